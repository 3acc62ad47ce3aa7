"""A straightforward pure-Python Rice decoder over a '0'/'1' string: the test oracle and benchmark baseline."""

from __future__ import annotations


def reference_decode(bits: str, n_samples: int, sample_bits: int) -> list[int]:
    """Decode ``bits`` (a string of '0'/'1') exactly as the grammar in idex.decode.rice describes."""
    pos = 0
    out: list[int] = []

    def read(n: int) -> int:
        nonlocal pos
        if pos + n > len(bits):
            raise ValueError("out of bits")
        value = int(bits[pos : pos + n], 2)
        pos += n
        return value

    while len(out) < n_samples:
        psel = read(2)
        k = read(4) if psel >= 2 else 0
        first = len(out)
        for n in range(min(64, n_samples - first)):
            if psel == 0:
                out.append(out[first] if n else read(sample_bits))
            elif psel == 1 or n < psel - 1:
                out.append(read(sample_bits))
            else:
                one = bits.find("1", pos)
                if one < 0:
                    raise ValueError("no terminating one")
                u = one - pos
                pos = one + 1
                if u == 47:
                    e = read(sample_bits + 2)
                    if e >= 1 << (sample_bits + 1):
                        e -= 1 << (sample_bits + 2)
                elif u > 47:
                    raise ValueError("quotient too large")
                else:
                    q = u // 2 if u % 2 == 0 else -(u + 1) // 2
                    e = q * 2 ** (k + 1) + read(k + 1)
                x = e + out[-1] if psel == 2 else e + 2 * out[-1] - out[-2]
                if not 0 <= x < 1 << sample_bits:
                    raise ValueError("sample out of range")
                out.append(x)
    return out


def to_bits(data: bytes) -> str:
    return "".join(f"{byte:08b}" for byte in data)


def from_bits(bits: str) -> bytes:
    bits = bits + "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
