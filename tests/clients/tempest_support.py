"""Support for test_tempest_schemas.py: tempest's compute service clients
against oxstack, with every HTTP exchange recorded for failure messages, and
a second opinion from the response schemas Nova itself ships.

tempest (tests/clients/requirements.txt pins 47.0.0) validates each response
against its copy of Nova's schemas in `RestClient.validate_response`; a
mismatch raises. tempest's schemas stop at 2.61 for flavors (open-ended), so
for the later microversions (2.75's integer swap, 2.102's removals) the
responses are also checked against the `*_response` schemas of the `nova`
package (NOVA_VERSION below, fetched once with `pip download --no-deps` into
target/nova-schemas/), selected by the microversion ranges of Nova's own
`@validation.response_body_schema(...)` decorators and validated with Nova's
own `_SchemaValidator`. Nothing of Nova is installed or imported as a
package: the few modules needed are executed from the wheel with stubs for
their heavyweight imports.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import subprocess
import sys
import types
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tempest.lib import auth as tempest_auth
from tempest.lib import exceptions as lib_exc
from tempest.lib.services.compute import base_compute_client
from tempest.lib.services.compute.extensions_client import ExtensionsClient
from tempest.lib.services.compute.flavors_client import FlavorsClient
from tempest.lib.services.compute.images_client import ImagesClient
from tempest.lib.services.compute.keypairs_client import KeyPairsClient
from tempest.lib.services.compute.limits_client import LimitsClient
from tempest.lib.services.compute.quota_classes_client import QuotaClassesClient
from tempest.lib.services.compute.quotas_client import QuotasClient
from tempest.lib.services.compute.server_groups_client import ServerGroupsClient
from tempest.lib.services.compute.servers_client import ServersClient
from tempest.lib.services.compute.versions_client import VersionsClient

REPO = Path(__file__).resolve().parents[2]
NOVA_VERSION = "34.0.0"  # max microversion 2.104
NOVA_WHEEL = f"nova-{NOVA_VERSION}-py3-none-any.whl"
NOVA_CACHE = REPO / "target" / "nova-schemas"

REGION = "RegionOne"


# --------------------------------------------------------------------------
# Recording every exchange, so a failure shows the request and the response.

@dataclass
class Exchange:
    method: str
    url: str
    request_headers: dict
    request_body: object
    status: int | None = None
    response_headers: dict = field(default_factory=dict)
    response_body: bytes | str | None = None

    def body_json(self):
        raw = self.response_body
        if raw in (None, b"", ""):
            return None
        return json.loads(raw)

    def __str__(self) -> str:
        hdrs = {k: ("***" if k.lower() == "x-auth-token" else v) for k, v in self.request_headers.items()}
        body = self.request_body
        if isinstance(body, bytes):
            body = body.decode(errors="replace")
        resp = self.response_body
        if isinstance(resp, bytes):
            resp = resp.decode(errors="replace")
        return "\n".join([
            f"REQ:  {self.method} {self.url}",
            f"      headers {hdrs}",
            f"      body    {body if body else '(none)'}",
            f"RESP: {self.status}",
            f"      headers {self.response_headers}",
            f"      body    {resp if resp else '(empty)'}",
        ])


class _Recording:
    """Mixin for tempest RestClients: remembers each raw exchange."""

    def raw_request(self, url, method, headers=None, body=None, chunked=False, log_req_body=None):
        if headers is None:
            headers = self.get_headers()
        ex = Exchange(method, url, dict(headers), body)
        self.exchanges.append(ex)
        resp, resp_body = super().raw_request(url, method, headers=headers, body=body, chunked=chunked,
                                              log_req_body=log_req_body)
        ex.status = resp.status
        ex.response_headers = {k: v for k, v in resp.items() if k != "status"}
        ex.response_body = resp_body
        return resp, resp_body


def _recording(cls):
    return type(f"Recording{cls.__name__}", (_Recording, cls), {})


RecordingFlavorsClient = _recording(FlavorsClient)
RecordingLimitsClient = _recording(LimitsClient)
RecordingQuotasClient = _recording(QuotasClient)
RecordingQuotaClassesClient = _recording(QuotaClassesClient)
RecordingImagesClient = _recording(ImagesClient)
RecordingKeyPairsClient = _recording(KeyPairsClient)
RecordingServerGroupsClient = _recording(ServerGroupsClient)
RecordingExtensionsClient = _recording(ExtensionsClient)
RecordingVersionsClient = _recording(VersionsClient)


class _TagSchemasFallback:
    """tempest 47's servers schema modules for 2.99 and 2.100 (v2_99,
    v2_100) do not carry the server tag schemas (`list_tags`, `update_tag`,
    ...), so ServersClient's tag methods die with AttributeError at 2.99 and
    later. Nova's tags API has not changed since 2.26: those names fall back
    to tempest's 2.98 module (the 2.26 schemas, copied forward); every other
    name comes from the module tempest picked."""

    NAMES = frozenset({"list_tags", "update_all_tags", "delete_all_tags", "check_tag_existence",
                       "update_tag", "delete_tag"})

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        if name in self.NAMES and not hasattr(self._module, name):
            from tempest.lib.api_schema.response.compute.v2_98 import servers as v298
            return getattr(v298, name)
        return getattr(self._module, name)


class _ServersClientTagFix(ServersClient):
    def get_schema(self, schema_versions_info):
        return _TagSchemasFallback(super().get_schema(schema_versions_info))


RecordingServersClient = type("RecordingServersClient", (_Recording, _ServersClientTagFix), {})


@contextlib.contextmanager
def microversion(version: str | None):
    """tempest's compute clients send (and check the echo of)
    `X-OpenStack-Nova-API-Version: <version>` and pick their response schema
    by it: `base_compute_client.COMPUTE_MICROVERSION` is how tempest's own
    tests set it (tempest 47 has no per-client attribute)."""
    saved = base_compute_client.COMPUTE_MICROVERSION
    base_compute_client.COMPUTE_MICROVERSION = version
    try:
        yield
    finally:
        base_compute_client.COMPUTE_MICROVERSION = saved


class Compute:
    """tempest's compute clients for one user, sharing one auth provider and
    one exchange log."""

    def __init__(self, base_url: str, username: str, password: str, project: str):
        creds = tempest_auth.KeystoneV3Credentials(
            username=username, password=password, project_name=project,
            user_domain_name="Default", project_domain_name="Default")
        self.auth_provider = tempest_auth.KeystoneV3AuthProvider(creds, base_url + "/identity/v3")
        self.exchanges: list[Exchange] = []
        kwargs = dict(auth_provider=self.auth_provider, service="compute", region=REGION,
                      endpoint_type="publicURL")

        def make(cls):
            client = cls(**kwargs)
            client.exchanges = self.exchanges
            return client

        self.flavors = make(RecordingFlavorsClient)
        self.limits = make(RecordingLimitsClient)
        self.quotas = make(RecordingQuotasClient)
        self.quota_classes = make(RecordingQuotaClassesClient)
        self.images = make(RecordingImagesClient)
        self.keypairs = make(RecordingKeyPairsClient)
        self.server_groups = make(RecordingServerGroupsClient)
        self.extensions = make(RecordingExtensionsClient)
        self.versions = make(RecordingVersionsClient)
        self.servers = make(RecordingServersClient)

    @property
    def project_id(self) -> str:
        return self.auth_provider.auth_data[1]["project"]["id"]

    @property
    def user_id(self) -> str:
        return self.auth_provider.auth_data[1]["user"]["id"]

    @property
    def token(self) -> str:
        return self.auth_provider.get_token()

    @property
    def base_url(self) -> str:
        return self.flavors.base_url


# --------------------------------------------------------------------------
# Nova's own response schemas, from the nova wheel.

# tempest client method -> Nova controller method (module.[Class.]method)
# whose @validation.response_body_schema decorators describe the response.
def nova_operation(method_name: str, args: tuple, kwargs: dict) -> str | None:
    if method_name == "list_flavors":
        return "flavors.detail" if (args[:1] or [kwargs.get("detail")])[0] else "flavors.index"
    if method_name == "list_images":
        return "images.detail" if (args[:1] or [kwargs.get("detail")])[0] else "images.index"
    if method_name == "show_quota_set":
        return "quota_sets.detail" if kwargs.get("detail") else "quota_sets.show"
    if method_name == "list_servers":
        return "servers.detail" if (args[:1] or [kwargs.get("detail")])[0] else "servers.index"
    if method_name == "action":  # ServersClient.action(server_id, name, ...): the generic action call
        return _SERVER_ACTIONS.get(args[1] if len(args) > 1 else kwargs.get("action_name"))
    return {
        "show_flavor": "flavors.show",
        "create_flavor": "flavors.create",
        "update_flavor": "flavors.update",
        "delete_flavor": "flavors.delete",
        "list_flavor_extra_specs": "flavors_extraspecs.index",
        "set_flavor_extra_spec": "flavors_extraspecs.create",
        "show_flavor_extra_spec": "flavors_extraspecs.show",
        "update_flavor_extra_spec": "flavors_extraspecs.update",
        "unset_flavor_extra_spec": "flavors_extraspecs.delete",
        "list_flavor_access": "flavor_access.index",
        "add_flavor_access": "flavor_access._add_tenant_access",
        "remove_flavor_access": "flavor_access._remove_tenant_access",
        "show_limits": "limits.index",
        "show_default_quota_set": "quota_sets.defaults",
        "update_quota_set": "quota_sets.update",
        "delete_quota_set": "quota_sets.delete",
        "show_quota_class_set": "quota_classes.show",
        "update_quota_class_set": "quota_classes.update",
        "list_extensions": "extension_info.index",
        "show_extension": "extension_info.show",
        "show_image": "images.show",
        "delete_image": "images.delete",
        "list_image_metadata": "image_metadata.index",
        "show_image_metadata_item": "image_metadata.show",
        "update_image_metadata": "image_metadata.create",        # POST .../metadata
        "set_image_metadata_item": "image_metadata.update",      # PUT .../metadata/{key}
        "set_image_metadata": "image_metadata.update_all",       # PUT .../metadata
        "delete_image_metadata_item": "image_metadata.delete",
        "create_keypair": "keypairs.create",
        "show_keypair": "keypairs.show",
        "list_keypairs": "keypairs.index",
        "delete_keypair": "keypairs.delete",
        "create_server_group": "server_groups.create",
        "show_server_group": "server_groups.show",
        "list_server_groups": "server_groups.index",
        "delete_server_group": "server_groups.delete",
        "list_versions": "versions.Versions.index",
        "get_version_by_url": "versionsV21.VersionsController.show",
        "create_server": "servers.create",
        "show_server": "servers.show",
        "update_server": "servers.update",
        "delete_server": "servers.delete",
        "list_server_metadata": "server_metadata.index",
        "update_server_metadata": "server_metadata.create",      # POST .../metadata
        "set_server_metadata": "server_metadata.update_all",     # PUT .../metadata
        "show_server_metadata_item": "server_metadata.show",
        "set_server_metadata_item": "server_metadata.update",    # PUT .../metadata/{key}
        "delete_server_metadata_item": "server_metadata.delete",
        "list_addresses": "ips.index",
        "list_addresses_by_network": "ips.show",
        "list_tags": "server_tags.index",
        "update_all_tags": "server_tags.update_all",
        "delete_all_tags": "server_tags.delete_all",
        "check_tag_existence": "server_tags.show",
        "update_tag": "server_tags.update",
        "delete_tag": "server_tags.delete",
        "lock_server": "lock_server._lock",
        "unlock_server": "lock_server._unlock",
        "stop_server": "servers._stop",
        "start_server": "servers._start",
        "reboot_server": "servers._reboot",
        "resize_server": "servers._resize",
        "confirm_resize_server": "servers._confirm_resize",
        "revert_resize_server": "servers._revert_resize",
        "rebuild_server": "servers._rebuild",
        "create_image": "servers._create_image",                 # ImagesClient: POST .../action createImage
        "pause_server": "pause_server._pause",
        "unpause_server": "pause_server._unpause",
        "suspend_server": "suspend_server._suspend",
        "resume_server": "suspend_server._resume",
        "rescue_server": "rescue._rescue",
        "unrescue_server": "rescue._unrescue",
        "change_password": "admin_password.change_password",
        "create_backup": "create_backup._create_backup",
        "shelve_server": "shelve._shelve",
        "shelve_offload_server": "shelve._shelve_offload",
        "unshelve_server": "shelve._unshelve",
        "get_console_output": "console_output.get_console_output",
        "reset_state": "admin_actions._reset_state",
        "inject_network_info": "admin_actions._inject_network_info",
        "list_instance_actions": "instance_actions.index",
        "show_instance_action": "instance_actions.show",
    }.get(method_name)


# Server actions tempest's ServersClient has no method for, sent with its
# generic `action(server_id, name, ...)`: action name -> Nova controller method.
_SERVER_ACTIONS = {
    "trigger_crash_dump": "servers._trigger_crash_dump",
}


# Controller module -> its schema module (both under nova/api/openstack/compute/).
_CONTROLLER_SCHEMAS = {
    "flavors": "flavors",
    "flavors_extraspecs": "flavors_extraspecs",
    "flavor_access": "flavor_access",
    "limits": "limits",
    "quota_sets": "quota_sets",
    "quota_classes": "quota_classes",
    "extension_info": "extension_info",
    "images": "images",
    "image_metadata": "image_metadata",
    "keypairs": "keypairs",
    "server_groups": "server_groups",
    "versions": "versions",
    "versionsV21": "versions",
    "servers": "servers",
    "server_metadata": "server_metadata",
    "server_tags": "server_tags",
    "ips": "ips",
    "lock_server": "lock_server",
    "pause_server": "pause_server",
    "suspend_server": "suspend_server",
    "rescue": "rescue",
    "admin_password": "admin_password",
    "create_backup": "create_backup",
    "shelve": "shelve",
    "console_output": "console_output",
    "admin_actions": "admin_actions",
    "instance_actions": "instance_actions",
}


def _mv(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    major, minor = text.split(".")
    return int(major), int(minor)


@dataclass
class SchemaRange:
    schema_name: str
    min_version: str | None
    max_version: str | None

    def matches(self, version: tuple[int, int]) -> bool:
        lo, hi = _mv(self.min_version), _mv(self.max_version)
        return (lo is None or lo <= version) and (hi is None or version <= hi)


class NovaSchemaError(AssertionError):
    pass


class NovaSchemas:
    """Nova's response schemas and validator, loaded from its wheel."""

    def __init__(self, wheel: Path):
        self.wheel = wheel
        with zipfile.ZipFile(wheel) as zf:
            self._sources = {n: zf.read(n).decode() for n in zf.namelist()
                             if n.startswith(("nova/api/openstack/compute/", "nova/api/validation/",
                                              "nova/api/openstack/api_version_request.py"))}
        m = re.search(r"^_MAX_API_VERSION = '([\d.]+)'", self._sources["nova/api/openstack/api_version_request.py"], re.M)
        self.max_version = m.group(1)
        self.schema_modules, self.validators = self._load_modules()
        self.ranges = self._decorator_ranges()

    # Execute the handful of modules with stubs standing in for nova's
    # packages and heavyweight imports; sys.modules is restored afterwards.
    def _load_modules(self):
        stubs: dict[str, types.ModuleType] = {}

        def package(name):
            mod = types.ModuleType(name)
            mod.__path__ = []
            stubs[name] = mod
            return mod

        for name in ("nova", "nova.api", "nova.api.validation", "nova.api.openstack",
                     "nova.api.openstack.compute", "nova.api.openstack.compute.schemas", "nova.objects"):
            package(name)

        i18n = types.ModuleType("nova.i18n")
        i18n._ = lambda text: text
        stubs["nova.i18n"] = i18n

        exception = types.ModuleType("nova.exception")

        class InvalidName(Exception):
            def __init__(self, reason=""):
                super().__init__(reason)
                self.reason = reason

            def format_message(self):
                return f"An invalid 'name' value was provided. {self.reason}"

        class ValidationError(Exception):
            def __init__(self, detail=""):
                super().__init__(detail)
                self.detail = detail

        exception.InvalidName = InvalidName
        exception.ValidationError = ValidationError
        stubs["nova.exception"] = exception

        tag = types.ModuleType("nova.objects.tag")
        instance = types.ModuleType("nova.objects.instance")
        with zipfile.ZipFile(self.wheel) as zf:
            tag_src = zf.read("nova/objects/tag.py").decode()
            instance_src = zf.read("nova/objects/instance.py").decode()
        tag.MAX_TAG_LENGTH = int(re.search(r"^MAX_TAG_LENGTH = (\d+)", tag_src, re.M).group(1))
        stubs["nova.objects.tag"] = tag
        # The servers and server_tags schemas only need MAX_TAG_COUNT.
        instance.MAX_TAG_COUNT = int(re.search(r"^MAX_TAG_COUNT = (\d+)", instance_src, re.M).group(1))
        stubs["nova.objects.instance"] = instance

        saved = {k: v for k, v in sys.modules.items() if k == "nova" or k.startswith("nova.")}
        loaded: dict[str, types.ModuleType] = {}
        try:
            for k in saved:
                del sys.modules[k]
            sys.modules.update(stubs)

            def load(dotted):
                path = dotted.replace(".", "/") + ".py"
                mod = types.ModuleType(dotted)
                mod.__file__ = f"{self.wheel.name}/{path}"
                sys.modules[dotted] = mod
                parent, _, leaf = dotted.rpartition(".")
                setattr(sys.modules[parent], leaf, mod)
                exec(compile(self._sources[path], mod.__file__, "exec"), mod.__dict__)
                loaded[dotted] = mod
                return mod

            load("nova.api.validation.parameter_types")
            load("nova.api.validation.response_types")
            validators = load("nova.api.validation.validators")
            schemas = {}
            for name in ("quota_sets", *sorted(set(_CONTROLLER_SCHEMAS.values()) - {"quota_sets"})):
                schemas[name] = load(f"nova.api.openstack.compute.schemas.{name}")
        finally:
            for k in [k for k in sys.modules if k == "nova" or k.startswith("nova.")]:
                del sys.modules[k]
            sys.modules.update(saved)
        self._exception = exception
        return schemas, validators

    def _decorator_ranges(self) -> dict[str, list[SchemaRange]]:
        """'module.method' and 'module.Class.method' -> the schema ranges of
        its @validation.response_body_schema decorators."""
        out: dict[str, list[SchemaRange]] = {}
        for module in _CONTROLLER_SCHEMAS:
            tree = ast.parse(self._sources[f"nova/api/openstack/compute/{module}.py"])
            for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
                for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
                    ranges = []
                    for dec in fn.decorator_list:
                        if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
                                and dec.func.attr == "response_body_schema"):
                            schema_arg = dec.args[0]
                            assert isinstance(schema_arg, ast.Attribute), ast.dump(dec)
                            bounds = [a.value for a in dec.args[1:]]
                            bounds += [None] * (2 - len(bounds))
                            lo, hi = bounds
                            ranges.append(SchemaRange(schema_arg.attr, None if lo in (None, "2.0") else lo, hi))
                    if ranges:
                        out[f"{module}.{cls.name}.{fn.name}"] = ranges
                        out.setdefault(f"{module}.{fn.name}", ranges)
        return out

    def schema_for(self, operation: str, version: str) -> tuple[str, dict]:
        module = operation.split(".")[0]
        ranges = self.ranges.get(operation)
        if not ranges:
            raise NovaSchemaError(f"nova {NOVA_VERSION} has no response schema for {operation}")
        v = _mv(version)
        hits = [r for r in ranges if r.matches(v)]
        if len(hits) != 1:
            raise NovaSchemaError(
                f"nova {NOVA_VERSION}: {len(hits)} response schemas of {operation} apply at {version}: {ranges}")
        schema_module = self.schema_modules[_CONTROLLER_SCHEMAS[module]]
        name = hits[0].schema_name
        return f"nova/api/openstack/compute/schemas/{_CONTROLLER_SCHEMAS[module]}.py:{name}", getattr(schema_module, name)

    def validate(self, operation: str, version: str, body) -> str:
        """Validate `body` (None for an empty body) as Nova's API code does;
        returns the schema's name, raises NovaSchemaError."""
        where, schema = self.schema_for(operation, version)
        validator = self.validators._SchemaValidator(schema, False, True)
        try:
            validator.validate(body)
        except self._exception.ValidationError as e:
            cause = e.__context__
            path = getattr(cause, "json_path", "?")
            raise NovaSchemaError(
                f"response does not match Nova {NOVA_VERSION}'s schema {where} at microversion {version}: "
                f"{e.detail} (at {path})") from None
        return where


def load_nova_schemas() -> tuple[NovaSchemas | None, str]:
    """The nova wheel from $OXSTACK_NOVA_WHEEL, else the cache, else `pip
    download` into the cache. Returns (schemas, '') or (None, why not)."""
    if os.environ.get("OXSTACK_NOVA_WHEEL"):
        wheel = Path(os.environ["OXSTACK_NOVA_WHEEL"])
        if not wheel.is_file():
            return None, f"OXSTACK_NOVA_WHEEL={wheel} is not a file"
    else:
        wheel = NOVA_CACHE / NOVA_WHEEL
    if not wheel.is_file():
        NOVA_CACHE.mkdir(parents=True, exist_ok=True)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                 "--only-binary=:all:", "-d", str(NOVA_CACHE), f"nova=={NOVA_VERSION}"],
                capture_output=True, text=True, timeout=180)
        except subprocess.TimeoutExpired:
            return None, f"`pip download nova=={NOVA_VERSION}` timed out"
        if proc.returncode != 0 or not wheel.is_file():
            return None, f"`pip download nova=={NOVA_VERSION}` failed ({proc.returncode}): {proc.stderr[-800:]}"
    try:
        return NovaSchemas(wheel), ""
    except Exception as e:  # a changed wheel layout must be visible, not silently skipped
        raise AssertionError(f"could not load Nova's response schemas from {wheel}: {e!r}") from e


# --------------------------------------------------------------------------
# One checked call.

def _tempest_class(client) -> str:
    """The name of the tempest client class behind a recording client."""
    return next(c.__name__ for c in type(client).__mro__ if c.__module__.startswith("tempest."))


class Checker:
    """Calls a tempest client method at the current microversion (tempest
    validates the response against its schema), then validates the same
    response against Nova's schema. Any failure is an AssertionError holding
    the HTTP exchange."""

    def __init__(self, nova: NovaSchemas | None, version: str | None):
        self.nova = nova
        self.version = version
        self.validated: list[tuple[str, str]] = []  # (operation, nova schema)

    def __call__(self, client, method_name: str, *args, nova: bool = True, **kwargs):
        start = len(client.exchanges)
        try:
            with microversion(self.version):
                result = getattr(client, method_name)(*args, **kwargs)
        except Exception as e:
            raise AssertionError(self._describe(
                f"tempest {_tempest_class(client)}.{method_name} at microversion "
                f"{self.version}: {type(e).__name__}: {e}", client, start)) from None
        if nova and self.nova is not None:
            operation = nova_operation(method_name, args, kwargs)
            exchange = client.exchanges[-1]
            try:
                where = self.nova.validate(operation, self.version or "2.1", exchange.body_json())
            except NovaSchemaError as e:
                raise AssertionError(self._describe(str(e), client, start)) from None
            self.validated.append((operation, where))
        return result

    def fails(self, exc_type, client, method_name: str, *args, **kwargs):
        """The call must raise `exc_type` (a tempest.lib.exceptions class)."""
        start = len(client.exchanges)
        try:
            with microversion(self.version):
                getattr(client, method_name)(*args, **kwargs)
        except exc_type as e:
            return e
        except Exception as e:
            raise AssertionError(self._describe(
                f"{method_name} at {self.version}: expected {exc_type.__name__}, got {type(e).__name__}: {e}",
                client, start)) from None
        raise AssertionError(self._describe(
            f"{method_name} at {self.version}: expected {exc_type.__name__}, but it succeeded", client, start))

    def _describe(self, headline: str, client, start: int) -> str:
        exchanges = client.exchanges[start:] or client.exchanges[-1:]
        return "\n".join([headline, "--- HTTP exchange ---", *(str(e) for e in exchanges)])


__all__ = ["Compute", "Checker", "NovaSchemas", "load_nova_schemas", "microversion", "lib_exc",
           "NOVA_VERSION"]
