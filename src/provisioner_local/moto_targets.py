"""Every moto internal the local stack replaces or reads, pinned to moto 5.2.5 (the `local` extra).

Each patch module takes its targets from here, and Patches (aws_patches) sets only a MotoTarget, so this
list is the whole of what the stack changes in moto. A target is `module:attribute` (the attribute may be
`Class.method`), the shape moto 5.2.5 gives it (its signature without annotations, or `<type>` for a value
that is no function) and why the stack replaces it. PRIVATE_READS are moto's private attributes the stack
reads without replacing. tests/local/test_moto_targets.py fails naming each target that moved or changed:
after a moto upgrade, that list says which patch to look at.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Final, Protocol


@dataclass(frozen=True)
class MotoTarget:
    """`module:Class.attribute` (or `module:attribute`), its shape in moto 5.2.5, and why it is replaced."""

    path: str
    shape: str
    why: str

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        """The attribute replaced on its owner (the module or a class of it)."""
        return self.path.rpartition(":")[2].rpartition(".")[2]

    def owner(self) -> Any:
        """The module, or the class in it, whose attribute this is (the module is imported if need be)."""
        module, _, attribute = self.path.partition(":")
        owner: Any = importlib.import_module(module)
        for part in attribute.split(".")[:-1]:
            owner = getattr(owner, part)
        return owner

    def original(self) -> Any:
        """What moto has there now (before the stack patches it: moto's own)."""
        return getattr(self.owner(), self.name)


class PatchSet(Protocol):
    """What a patch module installs its replacements through (aws_patches.Patches, which undoes them)."""

    def set(self, target: MotoTarget, value: Any) -> None: ...


def shape_of(value: Any) -> str:
    """A callable's signature without annotations (moto's are strings in some modules, types in others);
    `<type name>` for anything else."""
    if inspect.ismodule(value) or not callable(value):
        return f"<{type(value).__name__}>"
    signature = inspect.signature(value)
    return str(
        signature.replace(
            parameters=[p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()],
            return_annotation=inspect.Signature.empty,
        )
    )


@dataclass(frozen=True)
class PrivateRead:
    """A private attribute of moto's, `module:Class.attribute`, that the stack reads; `method` when it is
    one (found on the class), else an instance attribute (assigned as `self.<attribute>` in the class)."""

    path: str
    method: bool
    why: str

    def __str__(self) -> str:
        return self.path


LAMBDA_INVOKE: Final = MotoTarget(
    "moto.awslambda_simple.models:LambdaSimpleBackend.invoke",
    "(self, function_name, qualifier, body, headers, response_headers)",
    "Invoke runs the stacks' handlers in-process (aws_patches)",
)
AUTHORIZE: Final = MotoTarget(
    "moto.core.authorization:ActionAuthenticatorMixin._authenticate_and_authorize_action",
    "(self, iam_request_cls, resource='*')",
    "requests signed with an issued key are checked against IAM (aws_patches, issued_keys)",
)
IAM_CREATE_ACCESS_KEY: Final = MotoTarget(
    "moto.iam.models:IAMBackend.create_access_key",
    "(self, user_name, prefix='AKIA', status='Active')",
    "remembers issued keys; starts a key's propagation (aws_patches)",
)
IAM_CREATE_TEMP_ACCESS_KEY: Final = MotoTarget(
    "moto.iam.models:IAMBackend.create_temp_access_key",
    "(self)",
    "remembers issued temporary keys (aws_patches)",
)
IAM_ATTACH_USER_POLICY: Final = MotoTarget(
    "moto.iam.models:IAMBackend.attach_user_policy",
    "(self, policy_arn, user_name)",
    "starts an attachment's propagation (aws_patches)",
)
IAM_CREATE_POLICY: Final = MotoTarget(
    "moto.iam.models:IAMBackend.create_policy",
    "(self, description, path, policy_document, policy_name, tags)",
    "rejects policy documents AWS rejects (iam_policy_documents)",
)
IAM_CREATE_POLICY_VERSION: Final = MotoTarget(
    "moto.iam.models:IAMBackend.create_policy_version",
    "(self, policy_arn, policy_document, set_as_default)",
    "rejects policy documents AWS rejects (iam_policy_documents)",
)
IAM_PUT_USER_POLICY: Final = MotoTarget(
    "moto.iam.models:IAMBackend.put_user_policy",
    "(self, user_name, policy_name, policy_json)",
    "rejects policy documents AWS rejects (iam_policy_documents)",
)
IAM_MARK_ACCOUNT_AS_VISITED: Final = MotoTarget(
    "moto.iam.models:mark_account_as_visited",
    "(account_id, access_key, service, region)",
    "issued keys' last use is recorded by key_last_used instead",
)
IAM_CREATE_USER_RESPONSE: Final = MotoTarget(
    "moto.iam.responses:IamResponse.create_user",
    "(self)",
    "keeps CreateUser's PermissionsBoundary on the user (permissions_boundary)",
)
IAM_CALL_ACTION: Final = MotoTarget(
    "moto.iam.responses:IamResponse.call_action",
    "(self)",
    "IAM answers Throttling past its rates (iam_throttle), and 501 NotImplemented for what moto lacks"
    " (iam_user_deletion)",
)
IAM_DELETE_USER: Final = MotoTarget(
    "moto.iam.models:IAMBackend.delete_user",
    "(self, user_name)",
    "DeleteUser refuses a user with anything attached, as IAM does (iam_user_deletion)",
)
RETRIER_TIME: Final = MotoTarget(
    "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl:time",
    "<module>",
    "a Retry's interval is shortened on the emulated clock (aws_patches)",
)
WAIT_INTERVAL: Final = MotoTarget(
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function:WaitFunction._wait_interval",
    "(self, env, wait_seconds)",
    "a Wait state is shortened on the emulated clock (aws_patches)",
)
EVENTS_SEND_TO_TARGETS: Final = MotoTarget(
    "moto.events.models:Rule.send_to_targets",
    "(self, original_event, transform_input=True)",
    "EventBridge delivers to state machines and functions (event_delivery)",
)
EVENTS_BACKEND_PUT_EVENTS: Final = MotoTarget(
    "moto.events.models:EventsBackend.put_events",
    "(self, events)",
    "the stacks' event log (event_delivery)",
)
EVENTS_HANDLER_PUT_EVENTS: Final = MotoTarget(
    "moto.events.responses:EventsHandler.put_events",
    "(self)",
    "only PutEvents to a stack's server is logged (aws_patches)",
)
EVALUATION_ENTRYPOINT: Final = MotoTarget(
    "moto.stepfunctions.parser.backend.execution_worker:ExecutionWorker._get_evaluation_entrypoint",
    "(self)",
    "each definition parsed once (interpreter)",
)
PASS_RESULT: Final = MotoTarget(
    "moto.stepfunctions.parser.asl.component.state.state_pass.result:Result._eval_body",
    "(self, env)",
    "a shared program's Pass Result copied per evaluation (interpreter)",
)
JSON_PATH_PARSE: Final = MotoTarget(
    "moto.stepfunctions.parser.asl.utils.json_path:parse",
    "(path, debug=None)",
    "each JSONPath text parsed once (interpreter)",
)
RESULT_PATH_PARSE: Final = MotoTarget(
    "moto.stepfunctions.parser.asl.component.common.path.result_path:parse",
    "(string)",
    "each ResultPath text parsed once (interpreter)",
)
LAMBDA_CLIENT_FOR: Final = MotoTarget(
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils:boto_client_for",
    "(region, service, state_credentials=None)",
    "Lambda tasks dispatched in-process, other clients reused (interpreter)",
)
SFN_INTEGRATION_PARAMETERS: Final = MotoTarget(
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn:"
    "StateTaskServiceSfn._normalise_parameters",
    "(self, parameters, boto_service_name=None, service_action_name=None)",
    "the states:startExecution integration's parameters reach boto3 by its names (sfn_integration)",
)
STRING_VARIABLE_SAMPLE: Final = MotoTarget(
    "moto.stepfunctions.parser.asl.component.common.string.string_expression:StringVariableSample._eval_body",
    "(self, env)",
    "workflow variables read in JSONPath states (workflow_variables)",
)
S3_GET_BUCKET_CORS: Final = MotoTarget(
    "moto.s3.models:S3Backend.get_bucket_cors",
    "(self, bucket_name)",
    "a bucket's CORS configuration lags its writes (bucket_config_consistency)",
)
S3_PUT_BUCKET_CORS: Final = MotoTarget(
    "moto.s3.models:S3Backend.put_bucket_cors",
    "(self, bucket_name, cors_rules)",
    "a bucket's CORS configuration lags its writes (bucket_config_consistency)",
)
S3_DELETE_BUCKET_CORS: Final = MotoTarget(
    "moto.s3.models:S3Backend.delete_bucket_cors",
    "(self, bucket_name)",
    "a bucket's CORS configuration lags its writes (bucket_config_consistency)",
)
S3_GET_PERMISSION: Final = MotoTarget(
    "moto.s3.models:FakeBucket.get_permission",
    "(self, action, resource)",
    "moto's own bucket policy check replaced by the stack's (bucket_policy_enforcement)",
)
S3_BUCKET_RESPONSE_GET: Final = MotoTarget(
    "moto.s3.responses:S3Response._bucket_response_get",
    "(self, bucket_name, querystring)",
    "Requester Pays (requester_pays)",
)
S3_BUCKET_RESPONSE_PUT: Final = MotoTarget(
    "moto.s3.responses:S3Response._bucket_response_put",
    "(self, request, bucket_name, querystring)",
    "Requester Pays (requester_pays)",
)
S3_KEY_RESPONSE: Final = MotoTarget(
    "moto.s3.responses:S3Response.key_response",
    "(self, request, full_url, headers)",
    "S3's own CORS answers for objects (s3_cors)",
)
S3_BUCKET_RESPONSE: Final = MotoTarget(
    "moto.s3.responses:S3Response.bucket_response",
    "(self, request, full_url, headers)",
    "S3's own CORS answers for buckets (s3_cors)",
)
SERVER_GLOBAL_CORS: Final = MotoTarget(
    "moto.moto_server.werkzeug_app:DISABLE_GLOBAL_CORS",
    "<bool>",
    "flask-cors off, so S3 answers preflights (s3_cors)",
)
SETTINGS_GLOBAL_CORS: Final = MotoTarget(
    "moto.settings:DISABLE_GLOBAL_CORS",
    "<bool>",
    "flask-cors off, so S3 answers preflights (s3_cors)",
)
SECRETS_CREATE_SECRET: Final = MotoTarget(
    "moto.secretsmanager.models:SecretsManagerBackend.create_secret",
    (
        "(self, name, secret_string, secret_binary, description, tags, kms_key_id, client_request_token, "
        "replica_regions, force_overwrite)"
    ),
    "a force-deleted secret's name is taken a while (secret_deletion)",
)
SECRETS_DELETE_SECRET: Final = MotoTarget(
    "moto.secretsmanager.models:SecretsManagerBackend.delete_secret",
    "(self, secret_id, recovery_window_in_days, force_delete_without_recovery)",
    "a forced deletion finishes later (secret_deletion)",
)
SECRETS_UPDATE_VERSION_STAGE: Final = MotoTarget(
    "moto.secretsmanager.models:SecretsManagerBackend.update_secret_version_stage",
    "(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)",
    "moving AWSCURRENT moves the default version (secret_version_stages)",
)
SECRETS_DESCRIBE_SECRET: Final = MotoTarget(
    "moto.secretsmanager.models:SecretsManagerBackend.describe_secret",
    "(self, secret_id)",
    "due forced deletions finish first (secret_deletion)",
)
SECRETS_GET_SECRET_VALUE: Final = MotoTarget(
    "moto.secretsmanager.models:SecretsManagerBackend.get_secret_value",
    "(self, secret_id, version_id, version_stage)",
    "due forced deletions finish first (secret_deletion)",
)
SECRETS_PUT_SECRET_VALUE: Final = MotoTarget(
    "moto.secretsmanager.models:SecretsManagerBackend.put_secret_value",
    "(self, secret_id, secret_string, secret_binary, client_request_token, version_stages)",
    "due forced deletions finish first (secret_deletion)",
)
SECRETS_LIST_SECRETS: Final = MotoTarget(
    "moto.secretsmanager.models:SecretsManagerBackend.list_secrets",
    "(self, filters, max_results=100, next_token=None, include_planned_deletion=False)",
    "due forced deletions finish first (secret_deletion)",
)
DYNAMODB_PUT_ITEM: Final = MotoTarget(
    "moto.dynamodb.models:DynamoDBBackend.put_item",
    (
        "(self, table_name, item_attrs, expected=None, condition_expression=None, "
        "expression_attribute_names=None, expression_attribute_values=None, overwrite=False, "
        "return_values_on_condition_check_failure=None)"
    ),
    "one operation at a time, as DynamoDB's writes are atomic (dynamodb_atomicity)",
)
DYNAMODB_UPDATE_ITEM: Final = MotoTarget(
    "moto.dynamodb.models:DynamoDBBackend.update_item",
    (
        "(self, table_name, key, update_expression, expression_attribute_names, expression_attribute_values, "
        "attribute_updates=None, expected=None, condition_expression=None, "
        "return_values_on_condition_check_failure=None)"
    ),
    "one operation at a time, as DynamoDB's writes are atomic (dynamodb_atomicity)",
)
DYNAMODB_DELETE_ITEM: Final = MotoTarget(
    "moto.dynamodb.models:DynamoDBBackend.delete_item",
    (
        "(self, table_name, key, expression_attribute_names=None, expression_attribute_values=None, "
        "condition_expression=None, return_values_on_condition_check_failure=None)"
    ),
    "one operation at a time, as DynamoDB's writes are atomic (dynamodb_atomicity)",
)
DYNAMODB_TRANSACT_WRITE_ITEMS: Final = MotoTarget(
    "moto.dynamodb.models:DynamoDBBackend.transact_write_items",
    "(self, transact_items)",
    "one operation at a time, as DynamoDB's writes are atomic (dynamodb_atomicity)",
)
DYNAMODB_GET_ITEM: Final = MotoTarget(
    "moto.dynamodb.models:DynamoDBBackend.get_item",
    "(self, table_name, keys, projection_expressions=None)",
    "one operation at a time, as DynamoDB's writes are atomic (dynamodb_atomicity)",
)
DYNAMODB_QUERY: Final = MotoTarget(
    "moto.dynamodb.models:DynamoDBBackend.query",
    (
        "(self, table_name, hash_key_dict, range_comparison, range_value_dicts, limit, exclusive_start_key, "
        "scan_index_forward, projection_expressions, index_name=None, consistent_read=False, expr_names=None,"
        " expr_values=None, filter_expression=None, hash_key_conditions=None, range_key_conditions=None, "
        "**filter_kwargs)"
    ),
    "one operation at a time, as DynamoDB's writes are atomic (dynamodb_atomicity)",
)
DYNAMODB_SCAN: Final = MotoTarget(
    "moto.dynamodb.models:DynamoDBBackend.scan",
    (
        "(self, table_name, filters, limit, exclusive_start_key, filter_expression, expr_names, expr_values, "
        "index_name, consistent_read, projection_expression, segments)"
    ),
    "one operation at a time, as DynamoDB's writes are atomic (dynamodb_atomicity)",
)
SERVER_MODULE_NAMES: Final = MotoTarget(
    "moto.backends:list_of_moto_modules",
    "()",
    "listed once: moto's server lists its package on every request, under a global lock (aws_patches)",
)
KMS_PRIVATE_KEY: Final = MotoTarget(
    "moto.kms.models:generate_private_key",
    "(key_spec)",
    "made on first use: every key (a table's default one too) made an RSA key at creation (aws_patches)",
)

# The operations secret_deletion finishes due deletions before, and the ones dynamodb_atomicity serializes.
SECRETS_FINISHING_FIRST: Final = (
    SECRETS_DESCRIBE_SECRET,
    SECRETS_GET_SECRET_VALUE,
    SECRETS_PUT_SECRET_VALUE,
    SECRETS_LIST_SECRETS,
)
DYNAMODB_OPERATIONS: Final = (
    DYNAMODB_PUT_ITEM,
    DYNAMODB_UPDATE_ITEM,
    DYNAMODB_DELETE_ITEM,
    DYNAMODB_TRANSACT_WRITE_ITEMS,
    DYNAMODB_GET_ITEM,
    DYNAMODB_QUERY,
    DYNAMODB_SCAN,
)
# Every target above, in the order listed.
TARGETS: Final = tuple(value for value in tuple(globals().values()) if isinstance(value, MotoTarget))

# Read, not replaced: what the stack's checks of issued keys, the event log and the program cache need.
PRIVATE_READS: Final = (
    PrivateRead(
        "moto.core.responses:BaseResponse._get_action", True, "the action IAM authorizes and throttles"
    ),
    PrivateRead("moto.core.responses:BaseResponse._get_param", True, "CreateUser's PermissionsBoundary"),
    PrivateRead("moto.iam.access_control:IAMRequestBase._access_key", False, "the request's key"),
    PrivateRead("moto.iam.access_control:IAMRequestBase._service", False, "the service a key is used with"),
    PrivateRead("moto.iam.access_control:IAMRequestBase._action", False, "the action an S3 request asks"),
    PrivateRead(
        "moto.iam.access_control:IAMRequestBase._region", False, "the region a request is signed for"
    ),
    PrivateRead(
        "moto.iam.access_control:IAMRequestBase._raise_invalid_access_key", True, "an unknown key's answer"
    ),
    PrivateRead("moto.iam.access_control:IAMUserAccessKey._access_key_id", False, "the signing key's id"),
    PrivateRead("moto.iam.access_control:IAMUserAccessKey._owner_user_name", False, "the signing key's user"),
    PrivateRead(
        "moto.events.models:EventsBackend._normalize_event_bus_arn", True, "the bus of a logged event's ARN"
    ),
    PrivateRead(
        "moto.stepfunctions.parser.backend.execution_worker:ExecutionWorker._evaluation_details",
        False,
        "the definition whose parsed program an execution runs",
    ),
)
