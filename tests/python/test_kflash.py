# SPDX-License-Identifier: MIT
"""The ctypes module (examples/python/kflash.py) against the built library."""

import os
import shutil
import subprocess
import tempfile
import time
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


class UpdateTest(unittest.TestCase):
    """A simulated board, the fake Klipper tree and systemctl: build, status, update."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kflash-py.")
        self.dev = os.path.join(self.dir, "dev")
        os.makedirs(os.path.join(self.dir, "state"))
        klipper = os.path.join(self.dir, "klipper")
        shutil.copytree(os.environ["KF_FAKE_KLIPPER_SRC"], klipper)
        git = ["git", "-C", klipper, "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
        subprocess.run(["git", "-C", klipper, "init", "-q"], check=True)
        subprocess.run(git + ["add", "-A"], check=True)
        subprocess.run(git + ["commit", "-q", "-m", "fake"], check=True)
        subprocess.run(["git", "-C", klipper, "tag", "v0.12.0"], check=True)
        self.saved_env = dict(os.environ)
        os.environ["PATH"] = os.environ["KF_FAKES_BIN"] + ":" + os.environ["PATH"]
        os.environ["KF_FAKE_LOG"] = os.path.join(self.dir, "calls.log")
        os.environ["KF_FAKE_STATE"] = os.path.join(self.dir, "state")
        ready = os.path.join(self.dir, "ready")
        self.sim = subprocess.Popen([os.environ["KF_SIM_BIN"], "--dev-dir", self.dev,
                                     "--mcu", "stm32f446xx", "--serial", SERIAL,
                                     "--ready-file", ready])
        for _ in range(500):
            if os.path.exists(ready):
                break
            time.sleep(0.01)
        # Klipper runs, idle, with its API socket while its unit is active.
        sock = os.path.join(self.dir, "klippy.sock")
        self.klippy = subprocess.Popen([os.environ["KF_KLIPPY_SERVER_BIN"], "--socket", sock,
                                        "--unit-state", os.path.join(self.dir, "state", "klipper")])
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        self.events = []
        self.ctx = kflash.Context(
            on_event=self.events.append,
            config_dir=os.path.join(self.dir, "config"),
            registry=os.path.join(self.dir, "config", "devices.json"),
            cache_dir=os.path.join(self.dir, "cache"),
            klipper_dir=klipper,
            klippy_socket=os.path.join(self.dir, "klippy.sock"),
            dev_dir=self.dev)

    def tearDown(self):
        self.ctx.close()
        self.sim.terminate()
        self.sim.wait()
        self.klippy.terminate()
        self.klippy.wait()
        os.environ.clear()
        os.environ.update(self.saved_env)
        shutil.rmtree(self.dir)

    def test_build_status_and_update_with_progress(self):
        self.ctx.add_board("octopus", serial_path=os.path.join(self.dev, "serial", "by-id", BY_ID))
        with self.assertRaises(kflash.NotFoundError) as caught:
            self.ctx.build("octopus")
        self.assertIn("has no Klipper config yet", str(caught.exception))
        self.assertEqual(caught.exception.hint, "configure-board")
        self.assertEqual(caught.exception.subject, "octopus")
        subprocess.run([os.environ["KF_KFLASH_BIN"], "config", "octopus", "--from",
                        os.path.join(os.environ["KF_TEST_FIXTURES"], "klipper-configs",
                                     "stm32f446_usb.config"), "-q"],
                       check=True, env=dict(os.environ,
                                            KFLASH_CONFIG_DIR=os.path.join(self.dir, "config"),
                                            KFLASH_REGISTRY=os.path.join(self.dir, "config",
                                                                         "devices.json")))
        built = self.ctx.build("octopus")
        self.assertEqual(built["result"], "built")
        self.assertEqual(built["mcu"], "stm32f446xx")

        status = self.ctx.status()
        self.assertEqual(status["klipper"], {"state": "ready"})
        self.assertEqual(status["boards"][0]["reason"], "never-flashed")

        self.assertEqual(self.ctx.update(["octopus"], dry_run=True)["boards"][0]["result"],
                         "planned")
        summary = self.ctx.update(["octopus"])
        self.assertEqual(summary["boards"][0]["result"], "flashed")
        self.assertEqual(summary["boards"][0]["method"], "katapult")
        self.assertEqual(summary["boards"][0]["build"], "up-to-date")
        self.assertTrue(summary["klipper"]["stopped"])
        self.assertTrue(summary["klipper"]["restarted"])
        self.assertEqual(summary["klipper"]["state"], "ready")
        progress = [e for e in self.events if e.type == "progress"]
        self.assertTrue(any(e.message == "writing" and e.done == e.total for e in progress),
                        progress)
        self.assertTrue(all(e.board == "octopus" and e.phase == "Flash" for e in progress))
        self.assertFalse(self.ctx.status()["boards"][0]["needs_reflash"])
        # Nothing changed since: the board is current, and Klipper is not stopped.
        again = self.ctx.update(["octopus"])
        self.assertEqual(again["boards"][0]["result"], "current")
        self.assertFalse(again["klipper"]["stopped"])
        reflashed = self.ctx.update(["octopus"], reflash=True, jobs=1)["boards"][0]
        self.assertEqual(reflashed["result"], "flashed")
        self.assertEqual(reflashed["link"], "serial")
        self.assertIsNone(reflashed["can_interface"])
        with self.assertRaises(kflash.InvalidError):
            self.ctx.update(["octopus"], jobs=1000)

        with self.assertRaises(kflash.NotFoundError) as caught:
            self.ctx.update(["ghost"])
        self.assertIn("no board named ghost", caught.exception.message)
        self.assertEqual(caught.exception.hint, "list-boards")
        with self.assertRaises(TypeError):
            self.ctx.update(["octopus"], sideways=True)

    def test_version_compare(self):
        self.assertEqual(kflash.version_compare("v0.11.0-1-gabc", "v0.12.0-1-gdef"), -1)
        self.assertEqual(kflash.version_compare("v0.12.0-3-gabc-dirty", "v0.12.0-3-gabc"), 0)
