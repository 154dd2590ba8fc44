# A Python program that keeps objects in a module-level list (freed when the interpreter
# finalizes), and leaks others for good: one reference too many, as a C extension that
# misses a Py_DECREF does. The table of what it leaks goes to stderr: "FUNCTION BYTES
# BLOCKS" per line, FUNCTION the interpreter's C function that mallocs. With
# PYTHONMALLOC=malloc every object is a malloc block; under the default pymalloc, objects
# of 512 bytes or less live in pymalloc's arenas (mmap'd) and are not seen one by one.
import ctypes
import json
import sys


def leak(obj):
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def leak_bytearrays(count, size):
    for _ in range(count):
        leak(bytearray(size))  # its buffer: size + 1 bytes (a NUL after the data)


def leak_strings(count, length):
    sizes = 0
    for i in range(count):
        s = "y" * (length - 1) + str(i % 10)  # the concatenation mallocs the result
        sizes += sys.getsizeof(s)
        leak(s)
    return sizes


kept = []
for i in range(20000):
    kept.append({"id": i, "payload": "x" * (i % 200)})
leak_bytearrays(30, 50000)
string_bytes = leak_strings(10, 100)
print("python leaker:", len(json.dumps(kept[:100])), len(kept))
print("PyByteArray_Resize %d 30" % (30 * 50001), file=sys.stderr)
print("PyUnicode_Concat %d 10" % string_bytes, file=sys.stderr)
