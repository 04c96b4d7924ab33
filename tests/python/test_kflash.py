# SPDX-License-Identifier: MIT
"""The ctypes module (examples/python/kflash.py) against the built library."""

import os
import shutil
import tempfile
import unittest

import kflash

SERIAL = "1A2B3C4D5E6F708192A3B4C5"
BY_ID = "usb-Klipper_stm32f446xx_%s-if00" % SERIAL


class ContextTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kflash-py.")
        self.dev = os.path.join(self.dir, "dev")
        os.makedirs(os.path.join(self.dev, "serial", "by-id"))
        self.events = []
        self.ctx = kflash.Context(
            on_event=self.events.append, level="debug",
            config_dir=os.path.join(self.dir, "config"),
            registry=os.path.join(self.dir, "config", "devices.json"),
            cache_dir=os.path.join(self.dir, "cache"),
            dev_dir=self.dev)

    def tearDown(self):
        self.ctx.close()
        shutil.rmtree(self.dir)

    def test_version_and_locations(self):
        self.assertRegex(kflash.library_version(), r"^\d+\.\d+\.\d+")
        self.assertEqual(self.ctx.location("dev_dir"), self.dev)
        self.assertTrue(self.ctx.location("registry").endswith("devices.json"))
        with self.assertRaises(TypeError):
            self.ctx.location("nowhere")
        with self.assertRaises(TypeError):
            kflash.Context(nowhere="x")

    def test_boards_round_trip(self):
        self.assertEqual(self.ctx.boards(), [])
        added = self.ctx.add_board("octopus", serial_path="/dev/serial/by-id/" + BY_ID,
                                   klipper_mcu="mcu")
        self.assertEqual(added.mcu, "stm32f446xx")
        self.ctx.add_board("pi", mcu="rp2040", serial_path="/dev/ttyAMA0", method="make")
        boards = self.ctx.boards()
        self.assertEqual([b.name for b in boards], ["octopus", "pi"])
        self.assertEqual(boards[0].usb_serial, SERIAL)
        self.assertEqual(boards[0].klipper_mcu, "mcu")
        self.assertEqual(boards[1].method, "make")
        self.assertIsNone(boards[1].last_flash)
        self.ctx.remove_board("pi")
        self.assertEqual([b.name for b in self.ctx.boards()], ["octopus"])

    def test_errors_carry_the_library_message(self):
        self.ctx.add_board("octopus", mcu="stm32f446xx", serial_path="/dev/ttyS0")
        with self.assertRaises(kflash.ExistsError) as caught:
            self.ctx.add_board("octopus", mcu="stm32f446xx", serial_path="/dev/ttyS1")
        self.assertIn("a board named octopus is registered already", str(caught.exception))
        self.assertEqual(caught.exception.name, "KFLASH_ERR_EXISTS")
        self.assertLess(caught.exception.code, 0)
        with self.assertRaises(kflash.InvalidError) as caught:
            self.ctx.add_board("../x", mcu="rp2040")
        self.assertIn("not a valid board name", caught.exception.message)
        with self.assertRaises(kflash.NotFoundError):
            self.ctx.remove_board("ghost")
        self.assertIsInstance(caught.exception, kflash.KflashError)

    def test_corrupt_registry(self):
        os.makedirs(self.ctx.location("config_dir"))
        with open(self.ctx.location("registry"), "w") as f:
            f.write('{"version": 1, "boards": [\n  {"name": 7}]}')
        with self.assertRaises(kflash.CorruptError) as caught:
            self.ctx.boards()
        self.assertIn("devices.json:2:4:", str(caught.exception))

    def test_scan_and_connections(self):
        os.symlink("/dev/null", os.path.join(self.dev, "serial", "by-id", BY_ID))
        devices = self.ctx.scan()
        self.assertEqual(len(devices), 1)
        self.assertEqual(devices[0].mode, "klipper")
        self.assertEqual(devices[0].serial_number, SERIAL)
        self.ctx.add_board("octopus", serial_path="/dev/serial/by-id/" + BY_ID)
        self.ctx.add_board("gone", mcu="rp2040", serial_path=os.path.join(self.dev, "ttyAMA0"))
        boards = self.ctx.boards(connections=True)
        self.assertEqual(boards[0].connection["state"], "connected")
        self.assertEqual(boards[0].connection["mode"], "klipper")
        self.assertEqual(boards[1].connection["state"], "missing")
        # The debug events of the scan reached the Python callback.
        self.assertTrue(any("found klipper device" in e.message for e in self.events),
                        self.events)
        self.assertTrue(all(isinstance(e, kflash.Event) for e in self.events))

    def test_context_manager_closes(self):
        with kflash.Context(dev_dir=self.dev) as ctx:
            self.assertEqual(ctx.scan(), [])
        self.assertIsNone(ctx._ptr)


if __name__ == "__main__":
    unittest.main()
