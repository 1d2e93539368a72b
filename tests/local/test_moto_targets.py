"""Every moto internal the local stack replaces or reads (provisioner_local.moto_targets) is still where the
stack expects it, with the signature its replacement was written against: after a moto upgrade, each failure
names the target whose patch to look at."""

import inspect

import pytest

from provisioner_local.aws_patches import SHADOWING_VARIABLES, Patches
from provisioner_local.moto_targets import PRIVATE_READS, TARGETS, MotoTarget, PrivateRead, shape_of


@pytest.fixture(autouse=True)
def _no_shadowing_profile(monkeypatch):
    # moto's step functions parser makes a boto3 Session at import, which a missing AWS_PROFILE fails.
    for name in SHADOWING_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_registry_lists_each_target_once():
    paths = [target.path for target in TARGETS]
    assert len(paths) == len(set(paths))
    assert len(paths) >= 40


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_each_patched_target_exists_with_the_signature_its_replacement_expects(target: MotoTarget):
    try:
        original = target.original()
    except (ImportError, AttributeError) as error:
        pytest.fail(f"moto target {target} is gone ({error}); it was patched because: {target.why}")
    assert shape_of(original) == target.shape, (
        f"moto target {target} changed shape: {shape_of(original)} instead of {target.shape}; "
        f"its replacement ({target.why}) was written for the latter"
    )


@pytest.mark.parametrize("read", PRIVATE_READS, ids=str)
def test_each_private_attribute_read_is_still_there(read: PrivateRead):
    module, _, attribute = read.path.partition(":")
    class_name, _, name = attribute.rpartition(".")
    try:
        owner = getattr(__import__(module, fromlist=[class_name]), class_name)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{read}: {error}")
    if read.method:
        assert callable(getattr(owner, name, None)), (
            f"moto's {read} is gone; the stack reads it for {read.why}"
        )
    else:
        sources = "".join(
            inspect.getsource(cls) for cls in owner.__mro__ if cls.__module__.startswith("moto")
        )
        assert f"self.{name} =" in sources, (
            f"moto's {read} is no longer set; the stack reads it for {read.why}"
        )


def test_a_moved_target_fails_by_name():
    gone = MotoTarget("moto.iam.models:IAMBackend.no_such_method", "(self)", "a test")
    with pytest.raises(AttributeError):
        gone.original()
    changed = MotoTarget("moto.iam.models:IAMBackend.create_access_key", "(self, user_name)", "a test")
    assert shape_of(changed.original()) != changed.shape


def test_patches_put_every_target_back():
    target = next(t for t in TARGETS if t.path.endswith("IAMBackend.attach_user_policy"))
    before = target.original()
    patches = Patches()
    patches.set(target, lambda *args: None)
    assert target.original() is not before
    patches.undo()
    assert target.original() is before
