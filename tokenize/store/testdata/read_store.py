"""An independent reader of a token store, written from Megatron-LM's
_IndexReader and nanoGPT's np.memmap loader (with struct instead of numpy so
it runs on a bare Python). It prints every document's tokens, one line each,
for the Go test to compare; it asserts the index layout on the way."""
import json, os, struct, sys

store = sys.argv[1]
m = json.load(open(os.path.join(store, "manifest.json")))
fmt = {"uint16": "H", "int32": "i"}[m["dtype"]]
width = struct.calcsize("<" + fmt)
for shard in m["shards"]:
    idx = open(os.path.join(store, shard["name"] + ".idx"), "rb").read()
    assert idx[:9] == b"MMIDIDX\x00\x00", "magic"
    version, = struct.unpack_from("<Q", idx, 9)
    code, = struct.unpack_from("<B", idx, 17)
    n, = struct.unpack_from("<Q", idx, 18)
    doc_count, = struct.unpack_from("<Q", idx, 26)
    assert version == 1 and code == {"H": 8, "i": 4}[fmt] and doc_count == n + 1
    off = 34
    sizes = struct.unpack_from("<%di" % n, idx, off); off += 4 * n
    pointers = struct.unpack_from("<%dq" % n, idx, off); off += 8 * n
    doc_idx = struct.unpack_from("<%dq" % (n + 1), idx, off); off += 8 * (n + 1)
    assert off == len(idx) and list(doc_idx) == list(range(n + 1))
    data = open(os.path.join(store, shard["name"] + ".bin"), "rb").read()
    # nanoGPT: the whole .bin is one flat array of tokens.
    flat = struct.unpack("<%d%s" % (len(data) // width, fmt), data)
    for size, ptr in zip(sizes, pointers):
        start = ptr // width
        print(" ".join(map(str, flat[start:start + size])))
