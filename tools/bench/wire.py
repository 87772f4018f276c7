# SPDX-License-Identifier: Apache-2.0
"""A small msgpack codec and the frame layer of docs/protocol.md
(4-byte big-endian length + one msgpack map), Python standard library only."""

import struct

HELLO, HELLO_ACK, EVENTS, PROCESS, STATS, COMMAND, GOODBYE, ACK, COMMAND_RESULT = range(1, 10)
PROTOCOL_VERSION = 2


def pack(obj, out=None):
    """Encodes obj (None, bool, int, float, str, bytes, list, tuple, dict)."""
    if out is None:
        out = bytearray()
    if obj is None:
        out.append(0xc0)
    elif obj is True:
        out.append(0xc3)
    elif obj is False:
        out.append(0xc2)
    elif isinstance(obj, int):
        if 0 <= obj < 0x80:
            out.append(obj)
        elif -32 <= obj < 0:
            out.append(obj & 0xff)
        elif obj >= 0:
            if obj <= 0xff:
                out += struct.pack('>BB', 0xcc, obj)
            elif obj <= 0xffff:
                out += struct.pack('>BH', 0xcd, obj)
            elif obj <= 0xffffffff:
                out += struct.pack('>BI', 0xce, obj)
            else:
                out += struct.pack('>BQ', 0xcf, obj)
        else:
            if obj >= -0x80:
                out += struct.pack('>Bb', 0xd0, obj)
            elif obj >= -0x8000:
                out += struct.pack('>Bh', 0xd1, obj)
            elif obj >= -0x80000000:
                out += struct.pack('>Bi', 0xd2, obj)
            else:
                out += struct.pack('>Bq', 0xd3, obj)
    elif isinstance(obj, float):
        out += struct.pack('>Bd', 0xcb, obj)
    elif isinstance(obj, str):
        b = obj.encode('utf-8', 'surrogateescape')
        n = len(b)
        if n < 32:
            out.append(0xa0 | n)
        elif n <= 0xff:
            out += struct.pack('>BB', 0xd9, n)
        elif n <= 0xffff:
            out += struct.pack('>BH', 0xda, n)
        else:
            out += struct.pack('>BI', 0xdb, n)
        out += b
    elif isinstance(obj, (bytes, bytearray)):
        n = len(obj)
        if n <= 0xff:
            out += struct.pack('>BB', 0xc4, n)
        elif n <= 0xffff:
            out += struct.pack('>BH', 0xc5, n)
        else:
            out += struct.pack('>BI', 0xc6, n)
        out += obj
    elif isinstance(obj, (list, tuple)):
        n = len(obj)
        if n < 16:
            out.append(0x90 | n)
        elif n <= 0xffff:
            out += struct.pack('>BH', 0xdc, n)
        else:
            out += struct.pack('>BI', 0xdd, n)
        for v in obj:
            pack(v, out)
    elif isinstance(obj, dict):
        n = len(obj)
        if n < 16:
            out.append(0x80 | n)
        elif n <= 0xffff:
            out += struct.pack('>BH', 0xde, n)
        else:
            out += struct.pack('>BI', 0xdf, n)
        for k, v in obj.items():
            pack(k, out)
            pack(v, out)
    else:
        raise TypeError('cannot pack %r' % type(obj))
    return out


_FIXED = {0xcc: '>B', 0xcd: '>H', 0xce: '>I', 0xcf: '>Q',
          0xd0: '>b', 0xd1: '>h', 0xd2: '>i', 0xd3: '>q',
          0xca: '>f', 0xcb: '>d'}


def _unpack(b, i):
    t = b[i]
    i += 1
    if t < 0x80:
        return t, i
    if t >= 0xe0:
        return t - 0x100, i
    if 0xa0 <= t <= 0xbf:
        n = t & 0x1f
        return b[i:i + n].decode('utf-8', 'surrogateescape'), i + n
    if 0x90 <= t <= 0x9f:
        return _array(b, i, t & 0x0f)
    if 0x80 <= t <= 0x8f:
        return _map(b, i, t & 0x0f)
    if t == 0xc0:
        return None, i
    if t == 0xc2:
        return False, i
    if t == 0xc3:
        return True, i
    if t in _FIXED:
        fmt = _FIXED[t]
        return struct.unpack_from(fmt, b, i)[0], i + struct.calcsize(fmt)
    if t in (0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6):
        w = {0xd9: 1, 0xc4: 1, 0xda: 2, 0xc5: 2, 0xdb: 4, 0xc6: 4}[t]
        n = int.from_bytes(b[i:i + w], 'big')
        i += w
        raw = bytes(b[i:i + n])
        if t in (0xd9, 0xda, 0xdb):
            return raw.decode('utf-8', 'surrogateescape'), i + n
        return raw, i + n
    if t in (0xdc, 0xdd):
        w = 2 if t == 0xdc else 4
        return _array(b, i + w, int.from_bytes(b[i:i + w], 'big'))
    if t in (0xde, 0xdf):
        w = 2 if t == 0xde else 4
        return _map(b, i + w, int.from_bytes(b[i:i + w], 'big'))
    if t in (0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9):
        if t <= 0xd8:
            n = {0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16}[t]
        else:
            w = {0xc7: 1, 0xc8: 2, 0xc9: 4}[t]
            n = int.from_bytes(b[i:i + w], 'big')
            i += w
        return ('ext', b[i], bytes(b[i + 1:i + 1 + n])), i + 1 + n
    raise ValueError('bad msgpack byte 0x%02x' % t)


def _array(b, i, n):
    out = []
    for _ in range(n):
        v, i = _unpack(b, i)
        out.append(v)
    return out, i


def _map(b, i, n):
    out = {}
    for _ in range(n):
        k, i = _unpack(b, i)
        v, i = _unpack(b, i)
        out[k] = v
    return out, i


def unpack(b):
    v, i = _unpack(b, 0)
    if i != len(b):
        raise ValueError('trailing bytes')
    return v


def frame(obj):
    body = pack(obj)
    return struct.pack('>I', len(body)) + bytes(body)


def split_frames(data):
    """Yields the payloads of the frames in data (bytes)."""
    i = 0
    while i + 4 <= len(data):
        n = struct.unpack_from('>I', data, i)[0]
        if i + 4 + n > len(data):
            break
        yield data[i + 4:i + 4 + n]
        i += 4 + n


class FrameReader:
    """Reads whole frames from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def read(self):
        """The next payload (bytes), or None at EOF."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack_from('>I', self.buf, 0)[0]
                if len(self.buf) >= 4 + n:
                    p = bytes(self.buf[4:4 + n])
                    del self.buf[:4 + n]
                    return p
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self.buf += chunk
