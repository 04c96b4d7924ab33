# SPDX-License-Identifier: MIT
"""The Klipper extras module (examples/klipper/kflash.py) in a stand-in for
the few klippy objects it touches: printer, reactor, gcode, config, MCUs."""

import importlib.util
import json
import os
import shutil
import tempfile
import unittest

HOST = "v0.12.0-396-gabc1234"
OLD = "v0.12.0-380-gdeadbee"


class CommandError(Exception):
    pass


class GCmd:
    def __init__(self, gcode):
        self.gcode = gcode

    def respond_info(self, msg):
        self.gcode.responses.append(msg)

    def error(self, msg):
        return CommandError(msg)


class GCode:
    def __init__(self):
        self.commands = {}
        self.responses = []

    def register_command(self, name, fn, desc=None):
        self.commands[name] = fn

    def respond_info(self, msg):
        self.responses.append(msg)

    def run(self, name):
        self.commands[name](GCmd(self))
        return self.responses[-1]


class Reactor:
    def __init__(self):
        self.callbacks = []

    def monotonic(self):
        return 100.0

    def register_callback(self, fn):
        self.callbacks.append(fn)

    def run_callbacks(self):
        while self.callbacks:
            self.callbacks.pop(0)(self.monotonic())


class Status:
    def __init__(self, status):
        self.status = status

    def get_status(self, eventtime):
        return self.status


class Printer:
    def __init__(self, mcus, print_state="standby"):
        self.reactor = Reactor()
        self.gcode = GCode()
        self.handlers = {}
        self.objects = {"gcode": self.gcode,
                        "print_stats": Status({"state": print_state})}
        for name, version in mcus.items():
            self.objects[name] = Status({"mcu_version": version})

    def get_reactor(self):
        return self.reactor

    def lookup_object(self, name, default=KeyError):
        if name in self.objects:
            return self.objects[name]
        if default is KeyError:
            raise KeyError(name)
        return default

    def lookup_objects(self, module=None):
        return [(n, o) for n, o in self.objects.items()
                if module is None or n == module or n.startswith(module + " ")]

    def get_start_args(self):
        return {"software_version": HOST}

    def register_event_handler(self, event, fn):
        self.handlers[event] = fn


class Config:
    def __init__(self, printer, options):
        self.printer = printer
        self.options = options

    def get_printer(self):
        return self.printer

    def get(self, name, default=None):
        return self.options.get(name, default)


def load_module():
    path = os.path.join(os.environ["KF_SOURCE_ROOT"], "examples", "klipper", "kflash.py")
    spec = importlib.util.spec_from_file_location("kflash_extras", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExtrasTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kflash-klipper.")
        self.registry = os.path.join(self.dir, "devices.json")
        with open(self.registry, "w") as f:
            json.dump({"version": 1, "boards": [
                {"name": "octopus", "mcu": "stm32f446xx", "klipper_mcu": "mcu",
                 "last_flash": {"klipper_version": HOST, "result": "success",
                                "time": "2026-11-24T10:00:00Z"}},
                {"name": "ebb", "mcu": "stm32g0b1xx", "klipper_mcu": "mcu toolhead",
                 "last_flash": {"klipper_version": HOST, "result": "success",
                                "time": "2026-11-24T10:00:00Z"}},
                {"name": "pico", "mcu": "rp2040"},
            ]}, f)
        self.module = load_module()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def make(self, mcus, print_state="standby", **options):
        printer = Printer(mcus, print_state)
        options.setdefault("registry", self.registry)
        options.setdefault("log_file", os.path.join(self.dir, "kflash.log"))
        self.module.load_config(Config(printer, options))
        return printer

    def test_list(self):
        printer = self.make({"mcu": HOST})
        out = printer.gcode.run("KFLASH_LIST")
        self.assertIn("octopus: stm32f446xx [mcu], last flashed " + HOST, out)
        self.assertIn("pico: rp2040, last flashed never", out)

    def test_status_from_the_mcus_in_process(self):
        printer = self.make({"mcu": HOST + "-dirty-20261124_120000-pi", "mcu toolhead": OLD,
                             "mcu extra": OLD})
        out = printer.gcode.run("KFLASH_STATUS")
        self.assertIn("kflash: Klipper here is " + HOST, out)
        self.assertIn("octopus (stm32f446xx): current", out)
        self.assertIn("ebb (stm32g0b1xx): needs a reflash, it runs " + OLD, out)
        self.assertIn("pico (rp2040): needs a reflash, it was never flashed by kflash", out)
        self.assertIn("[mcu extra] runs %s and belongs to no kflash board" % OLD, out)
        self.assertIn("Run KFLASH_UPDATE", out)

    def test_ready_check_speaks_only_when_needed(self):
        printer = self.make({"mcu": HOST, "mcu toolhead": OLD})
        printer.handlers["klippy:ready"]()
        self.assertEqual(printer.gcode.responses, [])  # not on the ready path itself
        printer.reactor.run_callbacks()
        self.assertEqual(len(printer.gcode.responses), 1)
        self.assertIn("ebb (stm32g0b1xx): needs a reflash", printer.gcode.responses[0])

        with open(self.registry, "w") as f:
            json.dump({"version": 1, "boards": [
                {"name": "octopus", "mcu": "stm32f446xx", "klipper_mcu": "mcu"}]}, f)
        quiet = self.make({"mcu": HOST})
        quiet.handlers["klippy:ready"]()
        quiet.reactor.run_callbacks()
        self.assertEqual(quiet.gcode.responses, [])

    def test_missing_or_broken_registry(self):
        printer = self.make({"mcu": HOST}, registry=os.path.join(self.dir, "none.json"))
        self.assertIn("no boards registered", printer.gcode.run("KFLASH_LIST"))
        with open(self.registry, "w") as f:
            f.write("{")
        printer = self.make({"mcu": HOST})
        with self.assertRaises(CommandError) as caught:
            printer.gcode.run("KFLASH_STATUS")
        self.assertIn("devices.json:1:2", str(caught.exception))
        # The ready check stays quiet rather than failing klippy.
        printer.handlers["klippy:ready"]()
        printer.reactor.run_callbacks()

    def test_update_never_runs_inside_klipper(self):
        printer = self.make({"mcu": HOST}, print_state="printing")
        with self.assertRaises(CommandError) as caught:
            printer.gcode.run("KFLASH_UPDATE")
        self.assertIn("the printer is printing", str(caught.exception))

        calls = os.path.join(self.dir, "calls.log")
        os.environ["KF_FAKE_LOG"] = calls
        os.environ["KF_FAKE_SUDO"] = "passwordless"
        bin_dir = os.path.join(self.dir, "bin")
        os.makedirs(bin_dir)
        with open(os.path.join(bin_dir, "systemd-run"), "w") as f:
            f.write("#!/bin/sh\necho \"systemd-run $*\" >> \"$KF_FAKE_LOG\"\n")
        os.chmod(os.path.join(bin_dir, "systemd-run"), 0o755)
        saved = os.environ["PATH"]
        os.environ["PATH"] = ":".join([bin_dir, os.environ["KF_FAKES_BIN"], saved])
        try:
            printer = self.make({"mcu": HOST})
            out = printer.gcode.run("KFLASH_UPDATE")
        finally:
            os.environ["PATH"] = saved
        self.assertIn("the update runs now", out)
        self.assertIn(os.path.join(self.dir, "kflash.log"), out)
        with open(calls) as f:
            log = f.read()
        self.assertIn("sudo -n systemd-run --no-block", log)
        self.assertIn("--setenv=KFLASH_REGISTRY=" + self.registry, log)
        self.assertTrue(log.strip().endswith("kflash flash --all"), log)


if __name__ == "__main__":
    unittest.main()
