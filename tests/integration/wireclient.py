# SPDX-License-Identifier: Apache-2.0
"""A raw client (and a fake probe) for the wire of docs/protocol.md, in
Python's standard library only: a small msgpack codec, framing, and the
HMAC-SHA256 proofs of the handshake. The trust tests use it to play a
tracee, a local user or a fake probe against the real programs; a traced
workload can import it too (it is plain Python)."""

import hashlib
import hmac
import os
import struct

VERSION = 2
(HELLO, HELLO_ACK, EVENTS, PROCESS, STATS, COMMAND, GOODBYE, ACK,
 COMMAND_RESULT, CHALLENGE, AUTH) = range(1, 12)


def pack(v):
    if v is None:
        return b'\xc0'
    if v is True:
        return b'\xc3'
    if v is False:
        return b'\xc2'
    if isinstance(v, int):
        if 0 <= v < 0x80:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack('b', v)
        if v >= 0:
            return b'\xcf' + struct.pack('>Q', v)
        return b'\xd3' + struct.pack('>q', v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        return b'\xdb' + struct.pack('>I', len(b)) + b
    if isinstance(v, bytes):
        return b'\xc6' + struct.pack('>I', len(v)) + v
    if isinstance(v, (list, tuple)):
        return b'\xdd' + struct.pack('>I', len(v)) + b''.join(pack(x) for x in v)
    if isinstance(v, dict):
        return (b'\xdf' + struct.pack('>I', len(v))
                + b''.join(pack(k) + pack(x) for k, x in v.items()))
    raise TypeError(type(v))


def unpack(buf, i=0):
    """Decodes one value at buf[i:]; returns (value, next index). Bin values
    come back as bytes, strings as str."""
    b = buf[i]
    i += 1
    if b < 0x80:
        return b, i
    if b >= 0xe0:
        return b - 0x100, i
    if 0xa0 <= b <= 0xbf:
        n = b & 0x1f
        return buf[i:i + n].decode(errors='replace'), i + n
    if 0x80 <= b <= 0x9f:
        return unpack_items(buf, i, b & 0x0f, b < 0x90)
    simple = {0xc0: None, 0xc2: False, 0xc3: True}
    if b in simple:
        return simple[b], i
    ints = {0xcc: '>B', 0xcd: '>H', 0xce: '>I', 0xcf: '>Q',
            0xd0: '>b', 0xd1: '>h', 0xd2: '>i', 0xd3: '>q'}
    if b in ints:
        size = struct.calcsize(ints[b])
        return struct.unpack(ints[b], buf[i:i + size])[0], i + size
    sizes = {0xd9: '>B', 0xda: '>H', 0xdb: '>I', 0xc4: '>B', 0xc5: '>H', 0xc6: '>I'}
    if b in sizes:
        size = struct.calcsize(sizes[b])
        n = struct.unpack(sizes[b], buf[i:i + size])[0]
        i += size
        raw = buf[i:i + n]
        return (bytes(raw) if b in (0xc4, 0xc5, 0xc6) else raw.decode(errors='replace')), i + n
    containers = {0xdc: ('>H', False), 0xdd: ('>I', False), 0xde: ('>H', True),
                  0xdf: ('>I', True)}
    if b in containers:
        fmt, is_map = containers[b]
        size = struct.calcsize(fmt)
        n = struct.unpack(fmt, buf[i:i + size])[0]
        return unpack_items(buf, i + size, n, is_map)
    raise ValueError('msgpack byte 0x%02x' % b)


def unpack_items(buf, i, n, is_map):
    if is_map:
        out = {}
        for _ in range(n):
            k, i = unpack(buf, i)
            out[k], i = unpack(buf, i)
        return out, i
    out = []
    for _ in range(n):
        v, i = unpack(buf, i)
        out.append(v)
    return out, i


def frame(payload):
    return struct.pack('>I', len(payload)) + payload


def msg(mtype, **body):
    return frame(pack(dict(type=mtype, **body)))


def recv_exact(sock, n):
    data = b''
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(sock):
    """The next frame as a dict, or None at end of stream (or a reset)."""
    try:
        head = recv_exact(sock, 4)
        if head is None:
            return None
        payload = recv_exact(sock, struct.unpack('>I', head)[0])
    except (ConnectionResetError, BrokenPipeError):
        return None
    if payload is None:
        return None
    return unpack(payload)[0]


def hello_body(hostname, pidns, tracer_pid, nonce=None, resume=None, **extra):
    body = dict(type=HELLO, version=VERSION, tracer_version='test', mode='wrapped',
                hostname=hostname, container_id='', pidns=pidns,
                tracer_pid=tracer_pid, argv=['raw-client'])
    if nonce is not None:
        body['nonce'] = nonce
    if resume is not None:
        body['resume_session'], body['resume_secret'] = resume
    body.update(extra)
    return body


def proof(token, role, hello, probe_nonce):
    """What the probe ('probe') or the tracer ('tracer') sends to prove
    TOKEN for this HELLO and the probe's nonce (wire_auth_proof)."""
    m = hmac.new(token.encode() if isinstance(token, str) else token,
                 digestmod=hashlib.sha256)

    def piece(b):
        m.update(struct.pack('>Q', len(b)) + b)
    piece(b'sentrace-2 ' + role.encode())
    piece(hello.get('nonce', b''))
    piece(probe_nonce)
    piece(hello['hostname'].encode())
    m.update(struct.pack('>Q', hello['pidns'] & (2**64 - 1)))
    m.update(struct.pack('>Q', hello['tracer_pid'] & (2**64 - 1)))
    return m.digest()


def handshake(sock, body, token=None):
    """Sends HELLO BODY (with a fresh nonce when TOKEN is given), answers the
    CHALLENGE with TOKEN's proof, and returns the HELLO_ACK (or whatever
    came instead)."""
    if token is not None:
        body = dict(body, nonce=os.urandom(32))
    sock.sendall(frame(pack(body)))
    f = read_frame(sock)
    if token is None or not f or f.get('type') != CHALLENGE:
        return f
    if f.get('proof') != proof(token, 'probe', body, f['nonce']):
        raise AssertionError('the probe\'s proof does not verify')
    sock.sendall(msg(AUTH, proof=proof(token, 'tracer', body, f['nonce'])))
    return read_frame(sock)
