# SPDX-License-Identifier: MIT
"""libkflash from Python, through ctypes.

    import kflash

    with kflash.Context(on_event=print) as ctx:
        for board in ctx.boards():
            print(board.name, board.mcu, board.connection)

The library is found as ``libkflash.so.0`` through the normal library
search, or at the path in ``KFLASH_LIBRARY``. Every function comes from one
table (``_FUNCTIONS``) with its argument and result types. Failures raise a
subclass of :class:`KflashError` that carries the library's code and its
message.
"""

import ctypes
import ctypes.util
import os

__all__ = [
    "Context", "Board", "Device", "Event", "KflashError", "library_version", "version_compare",
]

SONAME = "libkflash.so.0"

_ctx_p = ctypes.c_void_p
_obj_p = ctypes.c_void_p
_str = ctypes.c_char_p

EVENT_HANDLER = ctypes.CFUNCTYPE(None, _ctx_p, _obj_p, ctypes.c_void_p)

# name: (restype, argtypes)
_FUNCTIONS = {
    "kflash_version": (_str, []),
    "kflash_strerror": (_str, [ctypes.c_int]),
    "kflash_error_name": (_str, [ctypes.c_int]),
    "kflash_phase_name": (_str, [ctypes.c_int]),
    # context
    "kflash_context_new": (ctypes.c_int, [ctypes.POINTER(_ctx_p)]),
    "kflash_context_unref": (_ctx_p, [_ctx_p]),
    "kflash_context_set_event_handler": (None, [_ctx_p, EVENT_HANDLER, ctypes.c_void_p]),
    "kflash_context_set_event_level": (None, [_ctx_p, ctypes.c_int]),
    "kflash_context_set_config_dir": (ctypes.c_int, [_ctx_p, _str]),
    "kflash_context_get_config_dir": (_str, [_ctx_p]),
    "kflash_context_set_registry": (ctypes.c_int, [_ctx_p, _str]),
    "kflash_context_get_registry": (_str, [_ctx_p]),
    "kflash_context_set_cache_dir": (ctypes.c_int, [_ctx_p, _str]),
    "kflash_context_get_cache_dir": (_str, [_ctx_p]),
    "kflash_context_set_klipper_dir": (ctypes.c_int, [_ctx_p, _str]),
    "kflash_context_get_klipper_dir": (_str, [_ctx_p]),
    "kflash_context_set_service": (ctypes.c_int, [_ctx_p, _str]),
    "kflash_context_get_service": (_str, [_ctx_p]),
    "kflash_context_set_klippy_socket": (ctypes.c_int, [_ctx_p, _str]),
    "kflash_context_get_klippy_socket": (_str, [_ctx_p]),
    "kflash_context_set_dev_dir": (ctypes.c_int, [_ctx_p, _str]),
    "kflash_context_get_dev_dir": (_str, [_ctx_p]),
    "kflash_context_cancel": (None, [_ctx_p]),
    "kflash_context_last_error": (_str, [_ctx_p]),
    "kflash_context_last_error_hint": (ctypes.c_int, [_ctx_p]),
    "kflash_context_last_error_subject": (_str, [_ctx_p]),
    "kflash_hint_name": (_str, [ctypes.c_int]),
    # events
    "kflash_event_get_type": (ctypes.c_int, [_obj_p]),
    "kflash_event_get_level": (ctypes.c_int, [_obj_p]),
    "kflash_event_get_phase": (ctypes.c_int, [_obj_p]),
    "kflash_event_get_board": (_str, [_obj_p]),
    "kflash_event_get_message": (_str, [_obj_p]),
    "kflash_event_get_progress_done": (ctypes.c_uint64, [_obj_p]),
    "kflash_event_get_progress_total": (ctypes.c_uint64, [_obj_p]),
    # boards and the registry
    "kflash_method_name": (_str, [ctypes.c_int]),
    "kflash_method_from_name": (ctypes.c_int, [_str, ctypes.POINTER(ctypes.c_int)]),
    "kflash_board_new": (ctypes.c_int, [_ctx_p, _str, ctypes.POINTER(_obj_p)]),
    "kflash_board_unref": (_obj_p, [_obj_p]),
    "kflash_board_get_name": (_str, [_obj_p]),
    "kflash_board_get_mcu": (_str, [_obj_p]),
    "kflash_board_set_mcu": (ctypes.c_int, [_obj_p, _str]),
    "kflash_board_get_serial_path": (_str, [_obj_p]),
    "kflash_board_set_serial_path": (ctypes.c_int, [_obj_p, _str]),
    "kflash_board_get_usb_serial": (_str, [_obj_p]),
    "kflash_board_get_method": (ctypes.c_int, [_obj_p]),
    "kflash_board_set_method": (ctypes.c_int, [_obj_p, ctypes.c_int]),
    "kflash_board_get_klipper_mcu": (_str, [_obj_p]),
    "kflash_board_set_klipper_mcu": (ctypes.c_int, [_obj_p, _str]),
    "kflash_board_has_last_flash": (ctypes.c_int, [_obj_p]),
    "kflash_board_get_last_flash_version": (_str, [_obj_p]),
    "kflash_board_get_last_flash_time": (ctypes.c_int64, [_obj_p]),
    "kflash_board_get_last_flash_ok": (ctypes.c_int, [_obj_p]),
    "kflash_registry_load": (ctypes.c_int, [_ctx_p, ctypes.POINTER(_obj_p)]),
    "kflash_registry_unref": (_obj_p, [_obj_p]),
    "kflash_registry_get_board_count": (ctypes.c_size_t, [_obj_p]),
    "kflash_registry_get_board": (_obj_p, [_obj_p, ctypes.c_size_t]),
    "kflash_registry_add_board": (ctypes.c_int, [_ctx_p, _obj_p]),
    "kflash_registry_remove_board": (ctypes.c_int, [_ctx_p, _str]),
    # discovery
    "kflash_device_mode_name": (_str, [ctypes.c_int]),
    "kflash_discovery_scan": (ctypes.c_int, [_ctx_p, ctypes.POINTER(_obj_p)]),
    "kflash_discovery_unref": (_obj_p, [_obj_p]),
    "kflash_discovery_get_device_count": (ctypes.c_size_t, [_obj_p]),
    "kflash_discovery_get_device": (_obj_p, [_obj_p, ctypes.c_size_t]),
    "kflash_discovery_find_board": (ctypes.c_int, [_obj_p, _obj_p, ctypes.POINTER(_obj_p)]),
    "kflash_device_unref": (_obj_p, [_obj_p]),
    "kflash_device_get_mode": (ctypes.c_int, [_obj_p]),
    "kflash_device_get_path": (_str, [_obj_p]),
    "kflash_device_get_by_path": (_str, [_obj_p]),
    "kflash_device_get_mcu": (_str, [_obj_p]),
    "kflash_device_get_serial_number": (_str, [_obj_p]),
    "kflash_device_get_vid": (ctypes.c_uint, [_obj_p]),
    "kflash_device_get_pid": (ctypes.c_uint, [_obj_p]),
    "kflash_device_get_usb_port": (_str, [_obj_p]),
    # firmware and builds
    "kflash_registry_find_board": (_obj_p, [_obj_p, _str]),
    "kflash_firmware_get_path": (_str, [_obj_p]),
    "kflash_firmware_get_size": (ctypes.c_size_t, [_obj_p]),
    "kflash_firmware_get_mcu": (_str, [_obj_p]),
    "kflash_firmware_get_version": (_str, [_obj_p]),
    "kflash_firmware_get_sha256": (_str, [_obj_p]),
    "kflash_build_board": (ctypes.c_int, [_ctx_p, _obj_p, ctypes.c_uint, ctypes.POINTER(_obj_p)]),
    "kflash_build_unref": (_obj_p, [_obj_p]),
    "kflash_build_get_result": (ctypes.c_int, [_obj_p]),
    "kflash_build_get_artifact": (_str, [_obj_p]),
    "kflash_build_get_firmware": (_obj_p, [_obj_p]),
    # status
    "kflash_klipper_version_compare": (ctypes.c_int, [_str, _str]),
    "kflash_klipper_state_name": (_str, [ctypes.c_int]),
    "kflash_reflash_reason_name": (_str, [ctypes.c_int]),
    "kflash_status_query": (ctypes.c_int, [_ctx_p, ctypes.POINTER(_obj_p)]),
    "kflash_status_unref": (_obj_p, [_obj_p]),
    "kflash_status_get_host_version": (_str, [_obj_p]),
    "kflash_status_get_klipper_state": (ctypes.c_int, [_obj_p]),
    "kflash_status_get_needs_reflash": (ctypes.c_int, [_obj_p]),
    "kflash_status_get_mcu_count": (ctypes.c_size_t, [_obj_p]),
    "kflash_status_get_mcu_name": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_status_get_mcu_version": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_status_get_mcu_board": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_status_get_mcu_needs_reflash": (ctypes.c_int, [_obj_p, ctypes.c_size_t]),
    "kflash_status_get_board_count": (ctypes.c_size_t, [_obj_p]),
    "kflash_status_get_board_name": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_status_get_board_flashed_version": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_status_get_board_live_version": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_status_get_board_needs_reflash": (ctypes.c_int, [_obj_p, ctypes.c_size_t]),
    "kflash_status_get_board_reason": (ctypes.c_int, [_obj_p, ctypes.c_size_t]),
    "kflash_status_get_board_message": (_str, [_obj_p, ctypes.c_size_t]),
    # the update
    "kflash_update_new": (ctypes.c_int, [_ctx_p, ctypes.POINTER(_obj_p)]),
    "kflash_update_unref": (_obj_p, [_obj_p]),
    "kflash_update_add_board": (ctypes.c_int, [_obj_p, _str]),
    "kflash_update_add_all_boards": (ctypes.c_int, [_obj_p]),
    "kflash_update_set_flags": (ctypes.c_int, [_obj_p, ctypes.c_uint]),
    "kflash_update_set_jobs": (ctypes.c_int, [_obj_p, ctypes.c_uint]),
    "kflash_update_get_board_link": (ctypes.c_int, [_obj_p, ctypes.c_size_t]),
    "kflash_update_get_board_can_interface": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_link_name": (_str, [ctypes.c_int]),
    "kflash_update_run": (ctypes.c_int, [_obj_p]),
    "kflash_board_result_name": (_str, [ctypes.c_int]),
    "kflash_firmware_source_name": (_str, [ctypes.c_int]),
    "kflash_update_get_board_count": (ctypes.c_size_t, [_obj_p]),
    "kflash_update_get_board_name": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_update_get_board_result": (ctypes.c_int, [_obj_p, ctypes.c_size_t]),
    "kflash_update_get_board_message": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_update_get_board_hint": (ctypes.c_int, [_obj_p, ctypes.c_size_t]),
    "kflash_update_get_board_source": (ctypes.c_int, [_obj_p, ctypes.c_size_t]),
    "kflash_update_get_board_method": (ctypes.c_int, [_obj_p, ctypes.c_size_t]),
    "kflash_update_get_board_version": (_str, [_obj_p, ctypes.c_size_t]),
    "kflash_update_get_board_duration_ms": (ctypes.c_uint64, [_obj_p, ctypes.c_size_t]),
    "kflash_update_get_klipper_stopped": (ctypes.c_int, [_obj_p]),
    "kflash_update_get_klipper_restarted": (ctypes.c_int, [_obj_p]),
    "kflash_update_get_klipper_state": (ctypes.c_int, [_obj_p]),
    "kflash_update_get_klipper_message": (_str, [_obj_p]),
}


def _load():
    path = os.environ.get("KFLASH_LIBRARY")
    try:
        lib = ctypes.CDLL(path or SONAME)
    except OSError:
        found = ctypes.util.find_library("kflash")
        if path or not found:
            raise
        lib = ctypes.CDLL(found)
    for name, (restype, argtypes) in _FUNCTIONS.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_lib = _load()


def _text(raw):
    return raw.decode("utf-8", "replace") if raw is not None else None


def _bytes(text):
    return text.encode("utf-8") if text is not None else None


def library_version():
    """The version of the loaded libkflash."""
    return _text(_lib.kflash_version())


def version_compare(a, b):
    """-1 when Klipper version ``a`` is older than ``b``, 0 the same, 1 newer,
    2 different but not orderable (see kflash_klipper_version_compare())."""
    return _lib.kflash_klipper_version_compare(_bytes(a), _bytes(b))


def _name(fn, value):
    """An enum's name from its _name() function; None for the "none" and "unknown" values."""
    name = _text(fn(value))
    return None if name in ("none", "unknown") else name


# ---- errors ----

class KflashError(Exception):
    """A libkflash failure: ``code`` (negative), ``name``, the message, and
    ``hint`` (what to do, a name such as "set-klippy-socket", or None) about
    ``subject`` (a board, a path, or None)."""

    def __init__(self, code, message, hint=None, subject=None):
        self.code = code
        self.name = _text(_lib.kflash_error_name(code))
        self.message = message or _text(_lib.kflash_strerror(code))
        self.hint = hint
        self.subject = subject
        super().__init__(self.message)


class InvalidError(KflashError, ValueError): pass
class NotFoundError(KflashError, LookupError): pass
class ExistsError(KflashError): pass
class CorruptError(KflashError): pass
class LockedError(KflashError): pass
class McuMismatchError(KflashError): pass
class BuildError(KflashError): pass
class FlashError(KflashError): pass
class TimedOutError(KflashError): pass
class ServiceError(KflashError): pass
class CancelledError(KflashError): pass
class NotTtyError(KflashError): pass
class BusyError(KflashError): pass
class ProtocolError(KflashError): pass
class AmbiguousError(KflashError): pass
class PrintingError(KflashError): pass
class NotSupportedError(KflashError): pass
class NotReadyError(KflashError): pass

_ERRORS = {
    "KFLASH_ERR_INVALID": InvalidError,
    "KFLASH_ERR_NOT_FOUND": NotFoundError,
    "KFLASH_ERR_EXISTS": ExistsError,
    "KFLASH_ERR_CORRUPT": CorruptError,
    "KFLASH_ERR_LOCKED": LockedError,
    "KFLASH_ERR_MCU_MISMATCH": McuMismatchError,
    "KFLASH_ERR_BUILD": BuildError,
    "KFLASH_ERR_FLASH": FlashError,
    "KFLASH_ERR_TIMEOUT": TimedOutError,
    "KFLASH_ERR_SERVICE": ServiceError,
    "KFLASH_ERR_CANCELLED": CancelledError,
    "KFLASH_ERR_NOT_TTY": NotTtyError,
    "KFLASH_ERR_BUSY": BusyError,
    "KFLASH_ERR_PROTOCOL": ProtocolError,
    "KFLASH_ERR_AMBIGUOUS": AmbiguousError,
    "KFLASH_ERR_PRINTING": PrintingError,
    "KFLASH_ERR_NOT_SUPPORTED": NotSupportedError,
    "KFLASH_ERR_NOT_READY": NotReadyError,
}


def _error(code, message, hint=None, subject=None):
    cls = _ERRORS.get(_text(_lib.kflash_error_name(code)), KflashError)
    return cls(code, message, hint, subject)


# ---- events ----

class Event:
    """One library event, copied out of C while the handler runs."""

    TYPES = {1: "log", 2: "phase", 3: "progress", 4: "output"}
    LEVELS = {10: "debug", 20: "info", 30: "warning", 40: "error"}

    def __init__(self, raw):
        self.type = self.TYPES.get(_lib.kflash_event_get_type(raw), "log")
        self.level = self.LEVELS.get(_lib.kflash_event_get_level(raw), "info")
        self.phase = _text(_lib.kflash_phase_name(_lib.kflash_event_get_phase(raw)))
        self.board = _text(_lib.kflash_event_get_board(raw))
        self.message = _text(_lib.kflash_event_get_message(raw))
        self.done = _lib.kflash_event_get_progress_done(raw)
        self.total = _lib.kflash_event_get_progress_total(raw)

    def __repr__(self):
        where = "[%s] " % self.phase if self.phase else ""
        board = "%s: " % self.board if self.board else ""
        if self.type == "progress":
            return "<Event %s%s%s %d/%d>" % (where, board, self.message, self.done, self.total)
        return "<Event %s %s%s%s>" % (self.level, where, board, self.message)


# ---- plain records ----

class Board:
    """A registered board, as read from the registry (a copy)."""

    def __init__(self, raw, connection=None):
        self.name = _text(_lib.kflash_board_get_name(raw))
        self.mcu = _text(_lib.kflash_board_get_mcu(raw))
        self.serial_path = _text(_lib.kflash_board_get_serial_path(raw))
        self.usb_serial = _text(_lib.kflash_board_get_usb_serial(raw))
        self.method = _text(_lib.kflash_method_name(_lib.kflash_board_get_method(raw)))
        self.klipper_mcu = _text(_lib.kflash_board_get_klipper_mcu(raw))
        self.last_flash = None
        if _lib.kflash_board_has_last_flash(raw):
            self.last_flash = {
                "klipper_version": _text(_lib.kflash_board_get_last_flash_version(raw)),
                "time": _lib.kflash_board_get_last_flash_time(raw),
                "ok": bool(_lib.kflash_board_get_last_flash_ok(raw)),
            }
        self.connection = connection

    def __repr__(self):
        return "<Board %s %s %s>" % (self.name, self.mcu, self.connection or "")


class Device:
    """A device found by a scan (a copy)."""

    def __init__(self, raw):
        self.mode = _text(_lib.kflash_device_mode_name(_lib.kflash_device_get_mode(raw)))
        self.path = _text(_lib.kflash_device_get_path(raw))
        self.by_path = _text(_lib.kflash_device_get_by_path(raw))
        self.mcu = _text(_lib.kflash_device_get_mcu(raw))
        self.serial_number = _text(_lib.kflash_device_get_serial_number(raw))
        self.vid = _lib.kflash_device_get_vid(raw)
        self.pid = _lib.kflash_device_get_pid(raw)
        self.usb_port = _text(_lib.kflash_device_get_usb_port(raw))

    def __repr__(self):
        return "<Device %s %s>" % (self.mode, self.path)


# ---- the context ----

_LOCATIONS = ("config_dir", "registry", "cache_dir", "klipper_dir", "service",
              "klippy_socket", "dev_dir")
_METHODS = ("auto", "katapult", "make", "sdcard")


class Context:
    """A libkflash context. Use it as a context manager, or call close().

    Keyword arguments set the locations (``config_dir``, ``registry``,
    ``cache_dir``, ``klipper_dir``, ``service``, ``klippy_socket``,
    ``dev_dir``); unset ones follow the library's own resolution (flags,
    then ``KFLASH_*`` environment, then XDG defaults). ``on_event`` is
    called with an :class:`Event` for every event at ``level`` or above.
    """

    def __init__(self, on_event=None, level="info", **locations):
        ptr = _ctx_p()
        r = _lib.kflash_context_new(ctypes.byref(ptr))
        if r < 0:
            raise _error(r, None)
        self._ptr = ptr
        self._handler = None  # the ctypes callback must outlive every C call
        for key, value in locations.items():
            if key not in _LOCATIONS:
                self.close()
                raise TypeError("unknown location %r (use one of %s)" % (key, ", ".join(_LOCATIONS)))
            if value is not None:
                self._check(getattr(_lib, "kflash_context_set_" + key)(self._ptr, _bytes(str(value))))
        if on_event is not None:
            self.set_event_handler(on_event, level)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self._ptr:
            _lib.kflash_context_set_event_handler(self._ptr, EVENT_HANDLER(), None)
            _lib.kflash_context_unref(self._ptr)
            self._ptr = None
            self._handler = None

    def _check(self, r):
        if r < 0:
            raise self._last_error(r)
        return r

    def _last_error(self, r):
        return _error(r, _text(_lib.kflash_context_last_error(self._ptr)),
                      _name(_lib.kflash_hint_name, _lib.kflash_context_last_error_hint(self._ptr)),
                      _text(_lib.kflash_context_last_error_subject(self._ptr)))

    def set_event_handler(self, fn, level="info"):
        """Send events at ``level`` or above to ``fn(event)``."""
        levels = {v: k for k, v in Event.LEVELS.items()}

        def trampoline(_ctx, raw, _data):
            try:
                fn(Event(raw))
            except Exception:  # never unwind through C
                import traceback
                traceback.print_exc()

        self._handler = EVENT_HANDLER(trampoline)
        _lib.kflash_context_set_event_handler(self._ptr, self._handler, None)
        _lib.kflash_context_set_event_level(self._ptr, levels[level])

    def location(self, name):
        """The resolved location ``name`` (see the constructor)."""
        if name not in _LOCATIONS:
            raise TypeError("unknown location %r" % name)
        return _text(getattr(_lib, "kflash_context_get_" + name)(self._ptr))

    def cancel(self):
        """Cancel the running operation (safe from a signal handler)."""
        _lib.kflash_context_cancel(self._ptr)

    # ---- the registry ----

    def boards(self, connections=False):
        """The registered boards. With ``connections``, each board's
        ``connection`` is ``{"state", "mode", "path"}`` from a scan."""
        reg = _obj_p()
        self._check(_lib.kflash_registry_load(self._ptr, ctypes.byref(reg)))
        disc = _obj_p()
        try:
            if connections:
                self._check(_lib.kflash_discovery_scan(self._ptr, ctypes.byref(disc)))
            out = []
            for i in range(_lib.kflash_registry_get_board_count(reg)):
                raw = _lib.kflash_registry_get_board(reg, i)
                out.append(Board(raw, self._connection(disc, raw) if connections else None))
            return out
        finally:
            _lib.kflash_discovery_unref(disc)
            _lib.kflash_registry_unref(reg)

    def _connection(self, disc, raw):
        dev = _obj_p()
        r = _lib.kflash_discovery_find_board(disc, raw, ctypes.byref(dev))
        if r < 0:
            state = "ambiguous" if _text(_lib.kflash_error_name(r)) == "KFLASH_ERR_AMBIGUOUS" else "missing"
            return {"state": state, "mode": None, "path": None}
        try:
            return {"state": "connected",
                    "mode": _text(_lib.kflash_device_mode_name(_lib.kflash_device_get_mode(dev))),
                    "path": _text(_lib.kflash_device_get_path(dev))}
        finally:
            _lib.kflash_device_unref(dev)

    def add_board(self, name, mcu=None, serial_path=None, method="auto", klipper_mcu=None):
        """Register a board; the MCU may come from a by-id ``serial_path``."""
        if method not in _METHODS:
            raise InvalidError(-1, "unknown flash method %r: use %s" % (method, ", ".join(_METHODS)))
        raw = _obj_p()
        self._check(_lib.kflash_board_new(self._ptr, _bytes(name), ctypes.byref(raw)))
        try:
            if serial_path:
                self._check(_lib.kflash_board_set_serial_path(raw, _bytes(serial_path)))
            if mcu:
                self._check(_lib.kflash_board_set_mcu(raw, _bytes(mcu)))
            self._check(_lib.kflash_board_set_method(raw, _METHODS.index(method)))
            if klipper_mcu:
                self._check(_lib.kflash_board_set_klipper_mcu(raw, _bytes(klipper_mcu)))
            self._check(_lib.kflash_registry_add_board(self._ptr, raw))
            return Board(raw)
        finally:
            _lib.kflash_board_unref(raw)

    def remove_board(self, name):
        """Unregister a board (its cached config and builds stay)."""
        self._check(_lib.kflash_registry_remove_board(self._ptr, _bytes(name)))

    # ---- builds, status, the update ----

    def build(self, name, clean=False):
        """Build board ``name``; returns {"result", "artifact", "mcu", "version", "sha256"}."""
        reg = _obj_p()
        self._check(_lib.kflash_registry_load(self._ptr, ctypes.byref(reg)))
        built = _obj_p()
        try:
            board = _lib.kflash_registry_find_board(reg, _bytes(name))
            if not board:
                raise NotFoundError(-2, "no board named %s is registered" % name)
            self._check(_lib.kflash_build_board(self._ptr, board, 1 if clean else 0,
                                                ctypes.byref(built)))
            fw = _lib.kflash_build_get_firmware(built)
            return {
                "result": "up-to-date" if _lib.kflash_build_get_result(built) == 2 else "built",
                "artifact": _text(_lib.kflash_build_get_artifact(built)),
                "size": _lib.kflash_firmware_get_size(fw),
                "mcu": _text(_lib.kflash_firmware_get_mcu(fw)),
                "version": _text(_lib.kflash_firmware_get_version(fw)),
                "sha256": _text(_lib.kflash_firmware_get_sha256(fw)),
            }
        finally:
            _lib.kflash_build_unref(built)
            _lib.kflash_registry_unref(reg)

    def status(self):
        """Which boards and live MCUs need a reflash, as the JSON of kflash status."""
        st = _obj_p()
        self._check(_lib.kflash_status_query(self._ptr, ctypes.byref(st)))
        try:
            state = _name(_lib.kflash_klipper_state_name,
                          _lib.kflash_status_get_klipper_state(st))
            return {
                "host_version": _text(_lib.kflash_status_get_host_version(st)),
                "klipper": {"state": state} if state else None,
                "needs_reflash": bool(_lib.kflash_status_get_needs_reflash(st)),
                "mcus": [{
                    "name": _text(_lib.kflash_status_get_mcu_name(st, i)),
                    "version": _text(_lib.kflash_status_get_mcu_version(st, i)),
                    "board": _text(_lib.kflash_status_get_mcu_board(st, i)),
                    "needs_reflash": bool(_lib.kflash_status_get_mcu_needs_reflash(st, i)),
                } for i in range(_lib.kflash_status_get_mcu_count(st))],
                "boards": [{
                    "name": _text(_lib.kflash_status_get_board_name(st, i)),
                    "last_flashed_version": _text(_lib.kflash_status_get_board_flashed_version(st, i)),
                    "live_version": _text(_lib.kflash_status_get_board_live_version(st, i)),
                    "needs_reflash": bool(_lib.kflash_status_get_board_needs_reflash(st, i)),
                    "reason": _name(_lib.kflash_reflash_reason_name,
                                    _lib.kflash_status_get_board_reason(st, i)),
                    "message": _text(_lib.kflash_status_get_board_message(st, i)),
                } for i in range(_lib.kflash_status_get_board_count(st))],
            }
        finally:
            _lib.kflash_status_unref(st)

    UPDATE_FLAGS = {"dry_run": 1, "force": 2, "no_build": 4, "fail_fast": 8, "clean": 16,
                    "reflash": 32, "keep_going": 64}

    def update(self, names=None, jobs=0, **flags):
        """The whole update (kflash flash): ``names`` or every board when None.

        ``jobs``: how many boards at once at most (0: every independent link,
        1: one after the other). Keyword flags: dry_run, force, no_build,
        fail_fast, clean, reflash, keep_going. Returns the summary, boards in
        the order they were flashed; raises on failure, with the summary as
        ``.summary``.
        """
        unknown = set(flags) - set(self.UPDATE_FLAGS)
        if unknown:
            raise TypeError("unknown update flags: %s" % ", ".join(sorted(unknown)))
        job = _obj_p()
        self._check(_lib.kflash_update_new(self._ptr, ctypes.byref(job)))
        try:
            if names is None:
                self._check(_lib.kflash_update_add_all_boards(job))
            for name in names or []:
                self._check(_lib.kflash_update_add_board(job, _bytes(name)))
            self._check(_lib.kflash_update_set_flags(
                job, sum(v for k, v in self.UPDATE_FLAGS.items() if flags.get(k))))
            self._check(_lib.kflash_update_set_jobs(job, jobs))
            r = _lib.kflash_update_run(job)
            summary = {
                "boards": [{
                    "name": _text(_lib.kflash_update_get_board_name(job, i)),
                    "result": _text(_lib.kflash_board_result_name(
                        _lib.kflash_update_get_board_result(job, i))),
                    "method": _name(_lib.kflash_method_name,
                                    _lib.kflash_update_get_board_method(job, i)),
                    "build": _name(_lib.kflash_firmware_source_name,
                                   _lib.kflash_update_get_board_source(job, i)),
                    "hint": _name(_lib.kflash_hint_name,
                                  _lib.kflash_update_get_board_hint(job, i)),
                    "version": _text(_lib.kflash_update_get_board_version(job, i)),
                    "seconds": _lib.kflash_update_get_board_duration_ms(job, i) / 1000.0,
                    "message": _text(_lib.kflash_update_get_board_message(job, i)),
                    "link": _text(_lib.kflash_link_name(
                        _lib.kflash_update_get_board_link(job, i))),
                    "can_interface": _text(
                        _lib.kflash_update_get_board_can_interface(job, i)),
                } for i in range(_lib.kflash_update_get_board_count(job))],
                "klipper": {
                    "stopped": bool(_lib.kflash_update_get_klipper_stopped(job)),
                    "restarted": bool(_lib.kflash_update_get_klipper_restarted(job)),
                    "state": _name(_lib.kflash_klipper_state_name,
                                   _lib.kflash_update_get_klipper_state(job)),
                    "message": _text(_lib.kflash_update_get_klipper_message(job)),
                },
            }
            if r < 0:
                err = self._last_error(r)
                err.summary = summary
                raise err
            return summary
        finally:
            _lib.kflash_update_unref(job)

    # ---- discovery ----

    def scan(self):
        """The devices plugged in now."""
        disc = _obj_p()
        self._check(_lib.kflash_discovery_scan(self._ptr, ctypes.byref(disc)))
        try:
            return [Device(_lib.kflash_discovery_get_device(disc, i))
                    for i in range(_lib.kflash_discovery_get_device_count(disc))]
        finally:
            _lib.kflash_discovery_unref(disc)
