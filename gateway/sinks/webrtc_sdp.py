"""SDP decisions for WebRTC passthrough (pure functions over SDP text and track values).

The camera's bitstream is sent as it is, so the answer must name the H.264 format the
browser offered that matches what the camera sends (profile, packetization-mode=1).
aiortc only knows two H.264 profiles (Baseline, Constrained Baseline) and matches offers
by profile, so :func:`restrict_offer` keeps the chosen format alone in the offer and shows
it to aiortc as Constrained Baseline; :func:`fix_answer` then puts the browser's own
``profile-level-id`` back into the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiortc.sdp import H264Profile, parse_h264_profile_level_id

from gateway.media import nal
from gateway.media.packet import TrackInfo

AIORTC_PROFILE = "42e01f"  # a profile-level-id aiortc's own H.264 codec list matches
CRLF = "\r\n"

# Camera profile -> offered profiles whose decoders also decode it, best first.
_DECODES = {
    H264Profile.PROFILE_CONSTRAINED_BASELINE: (
        H264Profile.PROFILE_CONSTRAINED_BASELINE,
        H264Profile.PROFILE_BASELINE,
        H264Profile.PROFILE_MAIN,
        H264Profile.PROFILE_CONSTRAINED_HIGH,
        H264Profile.PROFILE_HIGH,
    ),
    H264Profile.PROFILE_BASELINE: (
        H264Profile.PROFILE_BASELINE,
        H264Profile.PROFILE_CONSTRAINED_BASELINE,
    ),
    H264Profile.PROFILE_MAIN: (H264Profile.PROFILE_MAIN, H264Profile.PROFILE_HIGH),
    H264Profile.PROFILE_CONSTRAINED_HIGH: (
        H264Profile.PROFILE_CONSTRAINED_HIGH,
        H264Profile.PROFILE_HIGH,
    ),
    H264Profile.PROFILE_HIGH: (H264Profile.PROFILE_HIGH,),
}
AUDIO_PASSTHROUGH = {
    "opus": ("opus", 48000),
    "pcm_alaw": ("pcma", 8000),
    "pcm_mulaw": ("pcmu", 8000),
}


class OfferError(ValueError):
    """The offer cannot carry this camera's media; the message says why."""

    def __init__(self, message: str, field_name: str = "sdp") -> None:
        super().__init__(message)
        self.field = field_name


@dataclass
class Format:
    pt: int
    name: str  # lower case: h264, opus, pcma, rtx, ...
    clock: int
    fmtp: dict[str, str] = field(default_factory=dict)
    rtx: int | None = None  # the pt of its retransmission format

    @property
    def profile_level_id(self) -> str:
        return self.fmtp.get("profile-level-id", AIORTC_PROFILE).lower()


def _sections(sdp: str) -> list[list[str]]:
    """Session part, then one list of lines per m-section."""
    out: list[list[str]] = [[]]
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        if line.startswith("m="):
            out.append([])
        out[-1].append(line)
    return out


def _join(sections: list[list[str]]) -> str:
    return CRLF.join(line for sec in sections for line in sec) + CRLF


def _kind_index(sections: list[list[str]], kind: str) -> int | None:
    for i, sec in enumerate(sections[1:], 1):
        if sec[0].startswith(f"m={kind} "):
            return i
    return None


def offered_formats(sdp: str, kind: str) -> list[Format]:
    """The formats of the first ``kind`` m-section, in the offer's order of preference."""
    sections = _sections(sdp)
    idx = _kind_index(sections, kind)
    if idx is None:
        return []
    sec = sections[idx]
    pts = [int(p) for p in sec[0].split()[3:] if p.isdigit()]
    fmts = {pt: Format(pt, "", 0) for pt in pts}
    for line in sec[1:]:
        m = re.match(r"a=rtpmap:(\d+) ([^/\s]+)/(\d+)", line)
        if m and int(m.group(1)) in fmts:
            f = fmts[int(m.group(1))]
            f.name, f.clock = m.group(2).lower(), int(m.group(3))
            continue
        m = re.match(r"a=fmtp:(\d+) (.*)$", line)
        if m and int(m.group(1)) in fmts:
            params = (kv.strip().split("=", 1) for kv in m.group(2).split(";") if "=" in kv)
            fmts[int(m.group(1))].fmtp = {k.lower(): v.strip() for k, v in params}
    for f in fmts.values():
        if f.name == "rtx" and f.fmtp.get("apt", "").isdigit():
            base = fmts.get(int(f.fmtp["apt"]))
            if base is not None:
                base.rtx = f.pt
    return [fmts[pt] for pt in pts]


def sps_profile_level_id(track: TrackInfo, keyframe: bytes | None) -> str | None:
    """``profile-level-id`` (6 hex digits) of the camera's SPS, in-band or from extradata."""
    for data in (keyframe, track.extradata):
        if not data or not nal.is_annexb(data):
            continue
        for unit in nal.split_annexb(data):
            if nal.nal_type("h264", unit) == 7 and len(unit) >= 4:
                return unit[1:4].hex()
    return None


def _profile(pli: str) -> H264Profile | None:
    try:
        return parse_h264_profile_level_id(pli)[0]
    except ValueError:
        return None


def choose_video(formats: list[Format], camera_pli: str | None) -> Format:
    """The offered H.264 format (packetization-mode=1) whose decoder fits the camera."""
    h264 = [f for f in formats if f.name == "h264"]
    if not h264:
        raise OfferError("the offer has no H.264 video; camgate sends the camera's H.264 as is")
    usable = [f for f in h264 if f.fmtp.get("packetization-mode") == "1"]
    if not usable:
        raise OfferError("the offer's H.264 lacks packetization-mode=1 (large frames need FU-A)")
    cam = _profile(camera_pli) if camera_pli else None
    if cam is not None:
        for wanted in _DECODES.get(cam, (cam,)):
            for f in usable:
                if _profile(f.profile_level_id) == wanted:
                    return f
    # No exact fit (or unknown camera profile): browsers' H.264 decoders take every
    # profile in practice, so take the viewer's first choice rather than refuse.
    return usable[0]


def choose_audio(formats: list[Format], camera_codec: str | None) -> Format | None:
    """The offered format carrying the camera's audio unchanged, else None (video only)."""
    want = AUDIO_PASSTHROUGH.get(camera_codec or "")
    if want is None:
        return None
    for f in formats:
        if (f.name, f.clock) == want:
            return f
    return None


def restrict_offer(sdp: str, kind: str, fmt: Format) -> str:
    """Keep only ``fmt`` (and its RTX) in the first ``kind`` section; H.264 shown as aiortc's."""
    sections = _sections(sdp)
    idx = _kind_index(sections, kind)
    if idx is None:
        return sdp
    keep = {fmt.pt} | ({fmt.rtx} if fmt.rtx is not None else set())
    sec = sections[idx]
    head = sec[0].split()
    out = [" ".join(head[:3] + [p for p in head[3:] if p.isdigit() and int(p) in keep])]
    for line in sec[1:]:
        m = re.match(r"a=(rtpmap|fmtp|rtcp-fb):(\d+)[ ]", line)
        if m and int(m.group(2)) not in keep:
            continue
        if fmt.name == "h264" and m and m.group(1) == "fmtp" and int(m.group(2)) == fmt.pt:
            line = _set_profile(line, AIORTC_PROFILE)
        out.append(line)
    sections[idx] = out
    return _join(sections)


def _set_profile(line: str, pli: str) -> str:
    if "profile-level-id=" in line:
        return re.sub(r"profile-level-id=[0-9a-fA-F]{6}", f"profile-level-id={pli}", line)
    return f"{line};profile-level-id={pli}"


def fix_answer(sdp: str, fmt: Format) -> str:
    """Answer with the browser's own profile-level-id for the chosen H.264 format."""
    lines = sdp.replace("\r\n", "\n").split("\n")
    prefix = f"a=fmtp:{fmt.pt} "
    out = [_set_profile(ln, fmt.profile_level_id) if ln.startswith(prefix) else ln for ln in lines]
    return "\n".join(out).replace("\n", CRLF)


def add_advertised(sdp: str, addresses: tuple[str, ...]) -> str:
    """Copy each host candidate with every advertised address (1:1 NAT, port forwarding)."""
    if not addresses:
        return sdp
    out: list[str] = []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        out.append(line)
        m = re.match(r"a=candidate:(\S+) (\d+) (udp|tcp) (\d+) (\S+) (\d+) typ host(.*)$",
                     line, re.IGNORECASE)
        if not m:
            continue
        foundation, comp, proto, prio, ip, port, rest = m.groups()
        for n, addr in enumerate(addresses):
            if addr == ip:
                continue
            out.append(
                f"a=candidate:{foundation}a{n} {comp} {proto} {max(int(prio) - 1 - n, 1)}"
                f" {addr} {port} typ host{rest}"
            )
    return "\n".join(out).replace("\n", CRLF)
