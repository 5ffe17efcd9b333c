"""A WatchMetadata client in Python with grpcio alone (no generated code):
the request and the fields read from each answer are encoded by hand.

    python3 watch_metadata.py HOST:PORT CLUSTER_ID COUNT

Prints one line per answer received, `version=N code=C configs=K`, with
the time it arrived (ms since the Unix epoch), and exits after COUNT.
"""

import sys
import time

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_request(cluster_id, since):
    # GetMetadataRequest: cluster_id = 1 (varint), since_version = 2 (varint).
    return b"\x08" + varint(cluster_id) + b"\x10" + varint(since)


def fields(buf):
    """(field number, wire type, value) of a message's top-level fields."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("unknown wire type %d" % wire)
        yield num, wire, v


def read_varint(buf, i):
    shift = 0
    n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


def main():
    addr, cluster_id, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    channel = grpc.insecure_channel(addr)
    watch = channel.unary_stream(
        "/rollcall.v1.Meta/WatchMetadata",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    seen = 0
    for answer in watch(encode_request(cluster_id, 0)):
        version, code, configs = 0, 0, 0
        for num, _, v in fields(answer):
            if num == 1:
                code = v
            elif num == 3:
                version = v
            elif num == 5:
                configs += 1
        print("at=%d version=%d code=%d configs=%d" % (time.time() * 1000, version, code, configs), flush=True)
        seen += 1
        if seen >= count:
            return


if __name__ == "__main__":
    main()
