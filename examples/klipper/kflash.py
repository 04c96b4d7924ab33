# SPDX-License-Identifier: MIT
"""kflash for Klipper: board status and updates from G-code macros.

Copy this file to klippy/extras/kflash.py and add to printer.cfg:

    [kflash]
    # Every option is optional; unset ones follow libkflash's own rules
    # (KFLASH_* environment, then the XDG defaults), as for the kflash CLI.
    #library: /usr/local/lib/libkflash.so.0
    #registry: ~/.config/kflash/devices.json
    #klipper_dir: ~/klipper
    #log_file: ~/printer_data/logs/kflash.log

Commands:
    KFLASH_LIST    the registered boards
    KFLASH_STATUS  which boards need a reflash, from the MCUs' versions
    KFLASH_UPDATE  start `kflash flash --all` outside Klipper (not while printing)

Flashing never runs inside Klipper: Klipper holds the boards' ports and is
itself stopped by the update. KFLASH_UPDATE starts a detached job with
systemd-run whose output goes to the log file. Everything this module asks
the library is read-only and quick: it takes no lock a running update
holds for long.
"""

import ctypes
import ctypes.util
import logging
import os
import subprocess

_LOCK_TIMEOUT = 8  # enum kflash_timeout: KFLASH_TIMEOUT_LOCK
_LOCATIONS = {"registry": "kflash_context_set_registry",
              "klipper_dir": "kflash_context_set_klipper_dir"}

_c = ctypes.c_void_p
_s = ctypes.c_char_p
_FUNCTIONS = {
    "kflash_context_new": (ctypes.c_int, [ctypes.POINTER(_c)]),
    "kflash_context_unref": (_c, [_c]),
    "kflash_context_set_registry": (ctypes.c_int, [_c, _s]),
    "kflash_context_set_klipper_dir": (ctypes.c_int, [_c, _s]),
    "kflash_context_set_timeout": (ctypes.c_int, [_c, ctypes.c_int, ctypes.c_uint32]),
    "kflash_context_last_error": (_s, [_c]),
    "kflash_registry_load": (ctypes.c_int, [_c, ctypes.POINTER(_c)]),
    "kflash_registry_unref": (_c, [_c]),
    "kflash_registry_get_board_count": (ctypes.c_size_t, [_c]),
    "kflash_registry_get_board": (_c, [_c, ctypes.c_size_t]),
    "kflash_board_get_name": (_s, [_c]),
    "kflash_board_get_mcu": (_s, [_c]),
    "kflash_board_get_klipper_mcu": (_s, [_c]),
    "kflash_board_get_last_flash_version": (_s, [_c]),
    "kflash_board_has_last_flash": (ctypes.c_int, [_c]),
    "kflash_board_get_last_flash_ok": (ctypes.c_int, [_c]),
    "kflash_klipper_version_compare": (ctypes.c_int, [_s, _s]),
}


def _text(raw):
    return raw.decode("utf-8", "replace") if raw is not None else None


class _Library:
    """The few libkflash calls this module makes, bound once."""

    def __init__(self, path):
        lib = None
        for candidate in filter(None, [path, os.environ.get("KFLASH_LIBRARY"),
                                       "libkflash.so.0", ctypes.util.find_library("kflash")]):
            try:
                lib = ctypes.CDLL(os.path.expanduser(candidate))
                break
            except OSError:
                continue
        if lib is None:
            raise OSError("libkflash is not installed (set 'library:' in [kflash])")
        for name, (restype, argtypes) in _FUNCTIONS.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        self.lib = lib

    def boards(self, locations):
        """The registry's boards as dicts; raises RuntimeError with the library's message."""
        lib = self.lib
        ctx = _c()
        if lib.kflash_context_new(ctypes.byref(ctx)) < 0:
            raise RuntimeError("libkflash cannot start")
        try:
            lib.kflash_context_set_timeout(ctx, _LOCK_TIMEOUT, 500)
            for key, value in locations.items():
                if value:
                    getattr(lib, _LOCATIONS[key])(ctx, os.path.expanduser(value).encode())
            reg = _c()
            if lib.kflash_registry_load(ctx, ctypes.byref(reg)) < 0:
                raise RuntimeError(_text(lib.kflash_context_last_error(ctx)))
            try:
                out = []
                for i in range(lib.kflash_registry_get_board_count(reg)):
                    b = lib.kflash_registry_get_board(reg, i)
                    flashed = lib.kflash_board_has_last_flash(b)
                    out.append({
                        "name": _text(lib.kflash_board_get_name(b)),
                        "mcu": _text(lib.kflash_board_get_mcu(b)),
                        "klipper_mcu": _text(lib.kflash_board_get_klipper_mcu(b)),
                        "flashed": _text(lib.kflash_board_get_last_flash_version(b)),
                        "last_ok": bool(lib.kflash_board_get_last_flash_ok(b)) if flashed else None,
                    })
                return out
            finally:
                lib.kflash_registry_unref(reg)
        finally:
            lib.kflash_context_unref(ctx)

    def older(self, version, host):
        """True when firmware ``version`` is older than (or not) the host's."""
        order = self.lib.kflash_klipper_version_compare(version.encode() if version else None,
                                                 host.encode() if host else None)
        return order == -1 or (order == 2 and bool(version) and host not in (None, "?"))


class KFlash:
    def __init__(self, config):
        self.printer = config.get_printer()
        self.reactor = self.printer.get_reactor()
        self.gcode = self.printer.lookup_object("gcode")
        self.library_path = config.get("library", None)
        self.locations = {"registry": config.get("registry", None),
                          "klipper_dir": config.get("klipper_dir", None)}
        self.log_file = os.path.expanduser(
            config.get("log_file", "~/printer_data/logs/kflash.log"))
        self.kflash = config.get("kflash", "kflash")
        self._lib = None
        self.gcode.register_command("KFLASH_LIST", self.cmd_KFLASH_LIST,
                                    desc="List the boards kflash knows")
        self.gcode.register_command("KFLASH_STATUS", self.cmd_KFLASH_STATUS,
                                    desc="Tell which boards need a firmware reflash")
        self.gcode.register_command("KFLASH_UPDATE", self.cmd_KFLASH_UPDATE,
                                    desc="Rebuild and reflash every board with kflash")
        self.printer.register_event_handler("klippy:ready", self._handle_ready)

    def _library(self):
        if self._lib is None:
            self._lib = _Library(self.library_path)
        return self._lib

    # ---- what the MCUs run ----

    def _mcu_versions(self):
        """{section: mcu_version} of Klipper's own MCU objects, in process."""
        eventtime = self.reactor.monotonic()
        out = {}
        for name, obj in self.printer.lookup_objects("mcu"):
            if name != "mcu" and not name.startswith("mcu "):
                continue
            try:
                out[name] = obj.get_status(eventtime).get("mcu_version")
            except Exception:
                out[name] = None
        return out

    def _report(self):
        """Lines describing what needs a reflash, and whether anything does."""
        host = self.printer.get_start_args().get("software_version")
        live = self._mcu_versions()
        lib = self._library()
        boards = lib.boards(self.locations)
        lines, stale = ["kflash: Klipper here is %s" % host], []
        claimed = set()
        for b in boards:
            section = b["klipper_mcu"]
            version = live.get(section) if section else None
            if section:
                claimed.add(section)
            if version is not None and lib.older(version, host):
                why = "runs %s" % version
            elif version is None and b["last_ok"] is False:
                why = "its last flash failed"
            elif version is None and b["flashed"] is None:
                why = "was never flashed by kflash"
            elif version is None and lib.older(b["flashed"], host):
                why = "was last flashed with %s" % b["flashed"]
            else:
                lines.append("  %s (%s): current" % (b["name"], b["mcu"]))
                continue
            stale.append(b["name"])
            lines.append("  %s (%s): needs a reflash, it %s" % (b["name"], b["mcu"], why))
        for section, version in sorted(live.items()):
            if section not in claimed and lib.older(version, host):
                stale.append(section)
                lines.append("  [%s] runs %s and belongs to no kflash board: add it "
                             "with kflash add ... --klipper-mcu '%s'" % (section, version, section))
        if stale:
            lines.append("Run KFLASH_UPDATE (or kflash flash --all on the host) to update.")
        return lines, bool(stale)

    def _handle_ready(self):
        # Once, later, off the ready path.
        self.reactor.register_callback(self._check_once)

    def _check_once(self, eventtime):
        try:
            lines, stale = self._report()
        except Exception as e:
            logging.info("kflash: status not available: %s", e)
            return
        if stale:
            self.gcode.respond_info("\n".join(lines))

    # ---- commands ----

    def cmd_KFLASH_LIST(self, gcmd):
        try:
            boards = self._library().boards(self.locations)
        except Exception as e:
            raise gcmd.error("kflash: %s" % e)
        if not boards:
            gcmd.respond_info("kflash: no boards registered (kflash add on the host)")
            return
        gcmd.respond_info("\n".join(
            "%s: %s%s, last flashed %s" % (b["name"], b["mcu"],
                                           " [%s]" % b["klipper_mcu"] if b["klipper_mcu"] else "",
                                           b["flashed"] or "never")
            for b in boards))

    def cmd_KFLASH_STATUS(self, gcmd):
        try:
            lines, _ = self._report()
        except Exception as e:
            raise gcmd.error("kflash: %s" % e)
        gcmd.respond_info("\n".join(lines))

    def cmd_KFLASH_UPDATE(self, gcmd):
        print_stats = self.printer.lookup_object("print_stats", None)
        if print_stats is not None:
            state = print_stats.get_status(self.reactor.monotonic()).get("state")
            if state in ("printing", "paused"):
                raise gcmd.error("kflash: the printer is %s; update after the print" % state)
        argv = ["sudo", "-n", "systemd-run", "--no-block", "--collect",
                "--unit=kflash-update", "--uid=%d" % os.getuid(), "--gid=%d" % os.getgid(),
                "--setenv=HOME=%s" % os.path.expanduser("~"),
                "--property=StandardOutput=append:%s" % self.log_file,
                "--property=StandardError=append:%s" % self.log_file]
        for key, value in self.locations.items():
            if value:
                argv.append("--setenv=KFLASH_%s=%s" % (key.upper(), os.path.expanduser(value)))
        argv += [self.kflash, "flash", "--all"]
        try:
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
        except (OSError, subprocess.SubprocessError) as e:
            err = getattr(e, "stderr", None)
            raise gcmd.error("kflash: cannot start the update: %s" %
                             (err.decode().strip() if err else e))
        gcmd.respond_info("kflash: the update runs now; Klipper restarts when it is done. "
                          "Its log: %s" % self.log_file)


def load_config(config):
    return KFlash(config)
