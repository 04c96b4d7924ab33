# SPDX-License-Identifier: MIT
"""The ctypes table of examples/python/kflash.py against the C headers.

ctypes trusts whatever it is told: a wrong restype or a missing argument
corrupts memory silently. Every function the module declares must exist
in include/kflash/*.h with the same return type and argument types.
"""
import ctypes
import os
import pathlib
import re
import unittest

import kflash

HEADERS = pathlib.Path(os.environ["KF_SOURCE_ROOT"]) / "include" / "kflash"

_PROTOTYPE = re.compile(
    r"^((?:const )?(?:struct |enum )?\w+(?: \w+)?[ *]*)\n(kflash_\w+)\(([^;{]*?)\);",
    re.MULTILINE)
_SCALARS = {
    "int": ctypes.c_int,
    "unsigned int": ctypes.c_uint,
    "size_t": ctypes.c_size_t,
    "uint64_t": ctypes.c_uint64,
    "int64_t": ctypes.c_int64,
    "uint32_t": ctypes.c_uint32,
}


def _prototypes():
    found = {}
    for header in HEADERS.glob("*.h"):
        text = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.DOTALL)
        for ret, name, args in _PROTOTYPE.findall(text):
            args = " ".join(args.split())
            params = [] if args in ("", "void") else [a.strip() for a in args.split(",")]
            found[name] = (ret.strip(), params)
    return found


def _type_of(param):
    """The C type of a parameter declaration, without its name."""
    match = re.match(r"^(.*[\s*])\w+$", param.strip())
    return match.group(1).strip() if match else param.strip()


def _expected(ctype):
    """What ctypes must be told for @ctype: a ctypes type, None, or a check."""
    ctype = " ".join(ctype.replace("const ", "").split())
    if ctype == "void":
        return None
    if ctype == "char *":
        return ctypes.c_char_p
    if ctype.startswith("enum ") and not ctype.endswith("*"):
        return ctypes.c_int
    if ctype.endswith("**") or ctype.startswith("enum "):
        return "pointer"
    if ctype.endswith("*"):
        return ctypes.c_void_p
    if ctype.endswith("_handler") or ctype.endswith("_func"):
        return "callback"
    return _SCALARS[ctype]


class Signatures(unittest.TestCase):
    def test_every_declared_function_matches_its_header(self):
        protos = _prototypes()
        self.assertGreater(len(protos), 100)
        for name, (restype, argtypes) in kflash._FUNCTIONS.items():
            with self.subTest(function=name):
                self.assertIn(name, protos, "not in include/kflash/*.h")
                ret, params = protos[name]
                self.assertIs(restype, _expected(ret), "return type %s" % ret)
                self.assertEqual(len(argtypes), len(params), "arguments %s" % params)
                for param, given in zip(params, argtypes):
                    want = _expected(_type_of(param))
                    if want == "pointer":
                        self.assertTrue(issubclass(given, ctypes._Pointer), param)
                    elif want == "callback":
                        self.assertTrue(issubclass(given, ctypes._CFuncPtr), param)
                    else:
                        self.assertIs(given, want, param)

    def test_the_check_sees_a_wrong_table(self):
        """A table with a wrong type must fail the comparison above."""
        protos = _prototypes()
        ret, params = protos["kflash_registry_get_board"]
        self.assertIsNot(ctypes.c_int, _expected(_type_of(params[1])))
        self.assertIsNot(ctypes.c_int, _expected(ret))


if __name__ == "__main__":
    unittest.main()
