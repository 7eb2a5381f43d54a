#!/usr/bin/env python3
"""Hostile frames for the soak, sent from the lab's client namespace with an AF_PACKET socket.

  raw-frames.py syn DEV VIP COUNT           a burst of COUNT spoofed SYNs to VIP:80 from
                                            198.18.0.0/15 (no route back: half-open entries)
  raw-frames.py junk DEV VIP RATE SECONDS   malformed and odd frames at RATE per second: random
                                            bytes, truncated headers, corrupted IPv4 headers,
                                            fragments with random offsets (valid checksums, so
                                            they reach reassembly), TCP with random flags and
                                            sequence numbers, ICMP errors quoting random flows

Both print the number of frames sent. Deterministic (seeded) so a run can be repeated.
"""
import random, socket, struct, subprocess, sys, time


def director_mac(vip):
    subprocess.run(['ping', '-c', '1', '-W', '1', vip], stdout=subprocess.DEVNULL)
    neigh = subprocess.run(['ip', 'neigh', 'show', vip], capture_output=True, text=True).stdout.split()
    return bytes.fromhex(neigh[neigh.index('lladdr') + 1].replace(':', ''))


def csum(b):
    if len(b) % 2:
        b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff


def ipv4(src, dst, proto, payload, ident=0, frag=0, ttl=64):
    h = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, frag, ttl, proto, 0, src, dst))
    h[10:12] = struct.pack('!H', csum(bytes(h)))
    return bytes(h) + payload


def tcp(src, dst, sport, dport, seq, ack, flags, data=b''):
    t = bytearray(struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 0x50, flags, 64240, 0, 0) + data)
    pseudo = src + dst + struct.pack('!BBH', 0, 6, len(t))
    t[16:18] = struct.pack('!H', csum(pseudo + bytes(t)))
    return bytes(t)


def icmp(type_, code, rest, body):
    m = bytearray(struct.pack('!BBH', type_, code, 0) + rest + body)
    m[2:4] = struct.pack('!H', csum(bytes(m)))
    return bytes(m)


def spoofed(rnd):
    return struct.pack('!I', 0xC6120000 + rnd.randrange(131072))


def junk_frame(rnd, eth, vip):
    kind = rnd.randrange(7)
    src = spoofed(rnd)
    if kind == 0:  # random bytes after a valid Ethernet header
        return eth + rnd.randbytes(rnd.randrange(0, 1500))
    if kind == 1:  # truncated: part of an Ethernet or IPv4 header
        return (eth + ipv4(src, vip, 6, b''))[: rnd.randrange(0, 34)]
    if kind == 2:  # a TCP segment with one header byte corrupted (checksums mostly wrong)
        f = bytearray(eth + ipv4(src, vip, 6, tcp(src, vip, rnd.randrange(1024, 65536), 80, rnd.getrandbits(32), 0, 0x02)))
        f[14 + rnd.randrange(40)] ^= 1 << rnd.randrange(8)
        return bytes(f)
    if kind == 3:  # a fragment with a random offset and MF, valid header checksum
        data = rnd.randbytes(8 * rnd.randrange(1, 64))
        frag = (rnd.randrange(2) << 13) | rnd.randrange(0, 8000)
        return eth + ipv4(src, vip, rnd.choice((6, 17, 1)), data, ident=rnd.getrandbits(16), frag=frag)
    if kind == 4:  # TCP with random flags and sequence numbers to the HTTP service
        return eth + ipv4(src, vip, 6, tcp(src, vip, rnd.randrange(1024, 65536), 80, rnd.getrandbits(32), rnd.getrandbits(32), rnd.getrandbits(8)))
    if kind == 5:  # an ICMP error quoting a random flow from the VIP
        quoted = ipv4(vip, src, 6, tcp(vip, src, 80, rnd.randrange(1024, 65536), rnd.getrandbits(32), 0, 0x12))[:28]
        return eth + ipv4(src, vip, 1, icmp(3, rnd.choice((1, 3, 4)), struct.pack('!HH', 0, 1400), quoted))
    # a TCP segment with bad length fields: IHL or total length beyond the frame
    f = bytearray(eth + ipv4(src, vip, 6, tcp(src, vip, 4000, 80, 1, 0, 0x10)))
    if rnd.randrange(2):
        f[14] = 0x40 | rnd.randrange(16)
    else:
        f[16:18] = struct.pack('!H', rnd.randrange(65536))
    return bytes(f)


def main():
    mode, dev, vip_s = sys.argv[1], sys.argv[2], sys.argv[3]
    vip = socket.inet_aton(vip_s)
    eth = director_mac(vip_s) + bytes.fromhex('020000000bad') + b'\x08\x00'
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    rnd = random.Random(7)
    sent = 0
    if mode == 'syn':
        count = int(sys.argv[4])
        for i in range(count):
            src = struct.pack('!I', 0xC6120000 + (i % 131072))
            try:
                s.send(eth + ipv4(src, vip, 6, tcp(src, vip, 1024 + rnd.randrange(60000), 80, i, 0, 0x02)))
                sent += 1
            except OSError:
                pass
    elif mode == 'junk':
        rate, seconds = float(sys.argv[4]), float(sys.argv[5])
        start = time.monotonic()
        total = int(rate * seconds)
        while sent < total:
            due = min(total, int((time.monotonic() - start) * rate))
            while sent < due:
                try:
                    s.send(junk_frame(rnd, eth, vip))
                except OSError:
                    pass
                sent += 1
            time.sleep(0.01)
    else:
        sys.exit('usage: raw-frames.py syn DEV VIP COUNT | junk DEV VIP RATE SECONDS')
    print(sent)


main()
