"""Flux job IDs without libflux: a pure-Python twin of flux-core's ``flux.job.JobID``.

flux-core (0.88.0) implements ``JobID`` on top of the C functions ``flux_job_id_parse()`` and
``flux_job_id_encode()`` from libflux.  This module re-implements those C routines (and the
FLUID, mnemonicode and basemoji codecs behind them) so job ids can be parsed and formatted
identically, quirks included, in processes that do not have flux-core installed.

Only the encoding tables below are taken from flux-core / RFC 19; they are interoperability
data and must stay byte-for-byte identical to the originals.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from typing import Callable

try:  # nl_langinfo() is POSIX-only
    from locale import CODESET, nl_langinfo
except ImportError:  # pragma: no cover - e.g. Windows
    nl_langinfo = None  # type: ignore[assignment]
    CODESET = 0  # type: ignore[assignment]

__all__ = ["ENCODINGS", "JobID"]

_U64 = 1 << 64
_MASK64 = _U64 - 1
_WS = b" \t\n\v\f\r"  # what C isspace() accepts in the C / UTF-8 locales

# --- RFC 19 F58: base58 with the Bitcoin alphabet, prefixed with "ƒ" (or ASCII "f") ---------
_F58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_F58_VALUE = {ord(c): i for i, c in enumerate(_F58_ALPHABET)}  # keyed by byte value
_F58_PREFIX = "\u0192"  # "ƒ", LATIN SMALL LETTER F WITH HOOK
_F58_PREFIX_UTF8 = _F58_PREFIX.encode()
_F58_MAX_DIGITS = 12

# --- mnemonicode word list (Oren Tirosh, wordlist ver 0.7), as used by RFC 19 "words" -------
# 1626 base words followed by the 7 words reserved for 24-bit remainders.
_MN_WORDS_TEXT = (
    "academy acrobat active actor adam admiral adrian africa agenda agent airline airport "
    "aladdin alarm alaska albert albino album alcohol alex algebra alibi alice alien alpha "
    "alpine amadeus amanda amazon amber america amigo analog anatomy angel animal antenna "
    "antonio apollo april archive arctic arizona arnold aroma arthur artist asia aspect "
    "aspirin athena athlete atlas audio august austria axiom aztec balance ballad banana "
    "bandit banjo barcode baron basic battery belgium berlin bermuda bernard bikini binary "
    "bingo biology block blonde bonus boris boston boxer brandy bravo brazil bronze brown "
    "bruce bruno burger burma cabinet cactus cafe cairo cake calypso camel camera campus "
    "canada canal cannon canoe cantina canvas canyon capital caramel caravan carbon cargo "
    "carlo carol carpet cartel casino castle castro catalog caviar cecilia cement center "
    "century ceramic chamber chance change chaos charlie charm charter chef chemist cherry "
    "chess chicago chicken chief china cigar cinema circus citizen city clara classic "
    "claudia clean client climax clinic clock club cobra coconut cola collect colombo colony "
    "color combat comedy comet command compact company complex concept concert connect "
    "consul contact context contour control convert copy corner corona correct cosmos couple "
    "courage cowboy craft crash credit cricket critic crown crystal cuba culture dallas "
    "dance daniel david decade decimal deliver delta deluxe demand demo denmark derby design "
    "detect develop diagram dialog diamond diana diego diesel diet digital dilemma diploma "
    "direct disco disney distant doctor dollar dominic domino donald dragon drama dublin "
    "duet dynamic east ecology economy edgar egypt elastic elegant element elite elvis email "
    "energy engine english episode equator escort ethnic europe everest evident exact "
    "example exit exotic export express extra fabric factor falcon family fantasy fashion "
    "fiber fiction fidel fiesta figure film filter final finance finish finland flash "
    "florida flower fluid flute focus ford forest formal format formula fortune forum "
    "fragile france frank friend frozen future gabriel galaxy gallery gamma garage garden "
    "garlic gemini general genetic genius germany global gloria golf gondola gong good "
    "gordon gorilla grand granite graph green group guide guitar guru hand happy harbor "
    "harmony harvard havana hawaii helena hello henry hilton history horizon hotel human "
    "humor icon idea igloo igor image impact import index india indigo input insect instant "
    "iris italian jacket jacob jaguar janet japan jargon jazz jeep john joker jordan jumbo "
    "june jungle junior jupiter karate karma kayak kermit kilo king koala korea labor lady "
    "lagoon laptop laser latin lava lecture left legal lemon level lexicon liberal libra "
    "limbo limit linda linear lion liquid liter little llama lobby lobster local logic logo "
    "lola london lotus lucas lunar machine macro madam madonna madrid maestro magic magnet "
    "magnum major mama mambo manager mango manila marco marina market mars martin marvin "
    "master matrix maximum media medical mega melody melon memo mental mentor menu mercury "
    "message metal meteor meter method metro mexico miami micro million mineral minimum "
    "minus minute miracle mirage miranda mister mixer mobile model modem modern modular "
    "moment monaco monica monitor mono monster montana morgan motel motif motor mozart multi "
    "museum music mustang natural neon nepal neptune nerve neutral nevada news ninja nirvana "
    "normal nova novel nuclear numeric nylon oasis object observe ocean octopus olivia "
    "olympic omega opera optic optimal orange orbit organic orient origin orlando oscar "
    "oxford oxygen ozone pablo pacific pagoda palace pamela panama panda panel panic paradox "
    "pardon paris parker parking parody partner passage passive pasta pastel patent patriot "
    "patrol patron pegasus pelican penguin pepper percent perfect perfume period permit "
    "person peru phone photo piano picasso picnic picture pigment pilgrim pilot pirate pixel "
    "pizza planet plasma plaster plastic plaza pocket poem poetic poker polaris police "
    "politic polo polygon pony popcorn popular postage postal precise prefix premium present "
    "price prince printer prism private product profile program project protect proton "
    "public pulse puma pyramid queen radar radio random rapid rebel record recycle reflex "
    "reform regard regular relax report reptile reverse ricardo ringo ritual robert robot "
    "rocket rodeo romeo royal russian safari salad salami salmon salon salute samba sandra "
    "santana sardine school screen script second secret section segment select seminar "
    "senator senior sensor serial service sheriff shock sierra signal silicon silver similar "
    "simon single siren slogan social soda solar solid solo sonic soviet special speed "
    "spiral spirit sport static station status stereo stone stop street strong student "
    "studio style subject sultan super susan sushi suzuki switch symbol system tactic tahiti "
    "talent tango tarzan taxi telex tempo tennis texas textile theory thermos tiger titanic "
    "tokyo tomato topic tornado toronto torpedo total totem tourist tractor traffic transit "
    "trapeze travel tribal trick trident trilogy tripod tropic trumpet tulip tuna turbo "
    "twist ultra uniform union uranium vacuum valid vampire vanilla vatican velvet ventura "
    "venus vertigo veteran victor video vienna viking village vincent violet violin virtual "
    "virus visa vision visitor visual vitamin viva vocal vodka volcano voltage volume voyage "
    "water weekend welcome western window winter wizard wolf world xray yankee yoga yogurt "
    "yoyo zebra zero zigzag zipper zodiac zoom abraham action address alabama alfred almond "
    "ammonia analyze annual answer apple arena armada arsenal atlanta atomic avenue average "
    "bagel baker ballet bambino bamboo barbara basket bazaar benefit bicycle bishop blitz "
    "bonjour bottle bridge british brother brush budget cabaret cadet candle capitan capsule "
    "career cartoon channel chapter cheese circle cobalt cockpit college compass comrade "
    "condor crimson cyclone darwin declare degree delete delphi denver desert divide dolby "
    "domain domingo double drink driver eagle earth echo eclipse editor educate edward "
    "effect electra emerald emotion empire empty escape eternal evening exhibit expand "
    "explore extreme ferrari first flag folio forget forward freedom fresh friday fuji "
    "galileo garcia genesis gold gravity habitat hamlet harlem helium holiday house hunter "
    "ibiza iceberg imagine infant isotope jackson jamaica jasmine java jessica judo kitchen "
    "lazarus letter license lithium loyal lucky magenta mailbox manual marble mary maxwell "
    "mayor milk monarch monday money morning mother mystery native nectar nelson network "
    "next nikita nobel nobody nominal norway nothing number october office oliver opinion "
    "option order outside package pancake pandora panther papa patient pattern pedro pencil "
    "people phantom philips pioneer pluto podium portal potato prize process protein proxy "
    "pump pupil python quality quarter quiet rabbit radical radius rainbow ralph ramirez "
    "ravioli raymond respect respond result resume retro richard right risk river roger "
    "roman rondo sabrina salary salsa sample samuel saturn savage scarlet scoop scorpio "
    "scratch scroll sector serpent shadow shampoo sharon sharp short shrink silence silk "
    "simple slang smart smoke snake society sonar sonata soprano source sparta sphere spider "
    "sponsor spring acid adios agatha alamo alert almanac aloha andrea anita arcade aurora "
    "avalon baby baggage balloon bank basil begin biscuit blue bombay brain brenda brigade "
    "cable carmen cello celtic chariot chrome citrus civil cloud common compare cool copper "
    "coral crater cubic cupid cycle depend door dream dynasty edison edition enigma equal "
    "eric event evita exodus extend famous farmer food fossil frog fruit geneva gentle "
    "george giant gilbert gossip gram greek grille hammer harvest hazard heaven herbert "
    "heroic hexagon husband immune inca inch initial isabel ivory jason jerome joel joshua "
    "journal judge juliet jump justice kimono kinetic leonid lima maze medusa member memphis "
    "michael miguel milan mile miller mimic mimosa mission monkey moral moses mouse nancy "
    "natasha nebula nickel nina noise orchid oregano origami orinoco orion othello paper "
    "paprika prelude prepare pretend profit promise provide puzzle remote repair reply rival "
    "riviera robin rose rover rudolf saga sahara scholar shelter ship shoe sigma sister "
    "sleep smile spain spark split spray square stadium star storm story strange stretch "
    "stuart subway sugar sulfur summer survive sweet swim table taboo target teacher telecom "
    "temple tibet ticket tina today toga tommy tower trivial tunnel turtle twin uncle "
    "unicorn unique update valery vega version voodoo warning william wonder year yellow "
    "young absent absorb accent alfonso alias ambient andy anvil appear apropos archer ariel "
    "armor arrow austin avatar axis baboon bahama bali balsa bazooka beach beast beatles "
    "beauty before benny betty between beyond billy bison blast bless bogart bonanza book "
    "border brave bread break broken bucket buenos buffalo bundle button buzzer byte caesar "
    "camilla canary candid carrot cave chant child choice chris cipher clarion clark clever "
    "cliff clone conan conduct congo content costume cotton cover crack current danube data "
    "decide desire detail dexter dinner dispute donor druid drum easy eddie enjoy enrico "
    "epoxy erosion except exile explain fame fast father felix field fiona fire fish flame "
    "flex flipper float flood floor forbid forever fractal frame freddie front fuel gallop "
    "game garbo gate gibson ginger giraffe gizmo glass goblin gopher grace gray gregory grid "
    "griffin ground guest gustav gyro hair halt harris heart heavy herman hippie hobby honey "
    "hope horse hostel hydro imitate info ingrid inside invent invest invite iron ivan james "
    "jester jimmy join joseph juice julius july justin kansas karl kevin kiwi ladder lake "
    "laura learn legacy legend lesson life light list locate lopez lorenzo love lunch malta "
    "mammal margo marion mask match mayday meaning mercy middle mike mirror modest morph "
    "morris nadia nato navy needle neuron never newton nice night nissan nitro nixon north "
    "oberon octavia ohio olga open opus orca oval owner page paint palma parade parent "
    "parole paul peace pearl perform phoenix phrase pierre pinball place plate plato plume "
    "pogo point polite polka poncho powder prague press presto pretty prime promo quasi "
    "quest quick quiz quota race rachel raja ranger region remark rent reward rhino ribbon "
    "rider road rodent round rubber ruby rufus sabine saddle sailor saint salt satire scale "
    "scuba season secure shake shallow shannon shave shelf sherman shine shirt side sinatra "
    "sincere size slalom slow small snow sofia song sound south speech spell spend spoon "
    "stage stamp stand state stella stick sting stock store sunday sunset support sweden "
    "swing tape think thomas tictac time toast tobacco tonight torch torso touch toyota "
    "trade tribune trinity triton truck trust type under unit urban urgent user value vendor "
    "venice verona vibrate virgo visible vista vital voice vortex waiter watch wave weather "
    "wedding wheel whiskey wisdom deal null nurse quebec reserve reunion roof singer verbal "
    "amen ego fax jet job rio ski yes"
)
_MN_WORDS = tuple(_MN_WORDS_TEXT.split())
_MN_BASE = 1626
_MN_INDEX = {w.encode(): i for i, w in enumerate(_MN_WORDS)}

# --- RFC 19 basemoji: 576 emoji, each a single code point encoded as 4 UTF-8 bytes ----------
_EMOJI = (
    "😃😄😁😆😅😂😉😊😍😘😚😋😜😝😏😒😌😔😪😷😵😲😳😨"
    "😰😥😢😭😱😖😣😞😓😩😫😤😡😠👿💀💩👹👺👻👽👾😺😸"
    "😹😻😼😽🙀😿😾🙈🙉🙊💌💘💝💖💗💓💞💕💟💔💛💚💙💜"
    "💋💯💢💥💫💦💨💬💤👋👌👈👉👆👇👍👎👊👏🙌👐🙏💅💪"
    "👂👃👀👅👄👶👦👧👱👨👩👴👵🙍🙎🙅🙆💁🙋🙇👮💂👷👸"
    "👳👲👰👼🎅💆💇🚶🏃💃👯🏂🏄🏊🛀👫💏💑👪👤👣🐵🐒🐶"
    "🐩🐺🐱🐯🐴🐎🐮🐷🐗🐽🐑🐫🐘🐭🐹🐰🐻🐨🐼🐾🐔🐣🐤🐥"
    "🐦🐧🐸🐢🐍🐲🐳🐬🐟🐠🐡🐙🐚🐌🐛🐜🐝🐞💐🌸💮🌹🌺🌻"
    "🌼🌷🌱🌴🌵🌾🌿🍀🍁🍂🍃🍄🍇🍈🍉🍊🍌🍍🍎🍏🍑🍒🍓🍅"
    "🍆🌽🌰🍞🍖🍗🍔🍟🍕🍳🍲🍱🍘🍙🍚🍛🍜🍝🍠🍢🍣🍤🍥🍡"
    "🍦🍧🍨🍩🍪🎂🍰🍫🍬🍭🍮🍯🍵🍶🍷🍸🍹🍺🍻🍴🔪🌏🗾🌋"
    "🗻🏠🏡🏢🏣🏥🏦🏨🏩🏪🏫🏬🏭🏯🏰💒🗼🗽🌁🌃🌄🌅🌆🌇"
    "🌉🎠🎡🎢💈🎪🚃🚄🚅🚇🚉🚌🚑🚒🚓🚕🚗🚙🚚🚲🚏🚨🚥🚧"
    "🚤🚢💺🚀🕛🕐🕑🕒🕓🕔🕕🕖🕗🕘🕙🕚🌑🌓🌔🌕🌙🌛🌟🌠"
    "🌌🌀🌈🌂🔥💧🌊🎃🎄🎆🎇🎈🎉🎊🎋🎍🎎🎏🎐🎑🎀🎁🎫🏆"
    "🏀🏈🎾🎳🎣🎽🎿🎯🔫🎱🔮🎮🎰🎲🃏🀄🎴🎭🎨👓👔👕👖👗"
    "👘👙👚👛👜👝🎒👞👟👠👡👢👑👒🎩🎓💄💍💎🔊📢📣🔔🎼"
    "🎵🎶🎤🎧📻🎷🎸🎹🎺🎻📱📲📞📟📠🔋🔌💻💽💾💿📀🎥🎬"
    "📺📷📹📼🔍🔎💡🔦🏮📔📕📖📗📘📙📚📓📒📃📜📄📰📑🔖"
    "💰💴💵💸💳💹📧📨📩📤📥📦📫📪📮📝💼📁📂📅📆📇📈📉"
    "📊📋📌📍📎📏📐🔒🔓🔏🔐🔑🔨💣🔧🔩🔗📡💉💊🚪🚽🚬🗿"
    "🏧🚹🚺🚻🚼🚾🚫🚭🔞🔃🔙🔚🔛🔜🔝🔯🔼🔽🎦📶📳📴💱💲"
    "🔱📛🔰🔟🔠🔡🔢🔣🔤🆎🆑🆒🆓🆔🆕🆖🆗🆘🆙🆚🈁🈶🈯🉐"
    "🈹🈚🈲🉑🈸🈴🈳🈺🈵🔴🔵🔶🔷🔸🔹🔺🔻💠🔘🔳🔲🏁🚩🎌"
)
_EMOJI_INDEX = {e.encode(): i for i, e in enumerate(_EMOJI)}
_EMOJI_MAX_BYTES = 28  # 7 emoji: enough for any 64-bit value

_LITTLE_ENDIAN = sys.byteorder == "little"
_HEX_RUN = re.compile(rb"[0-9A-Fa-f]*")
_DEC_RUN = re.compile(rb"[0-9]*")
_ALPHA_RUN = re.compile(rb"[A-Za-z]+")
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _f58_prefix() -> str:
    """Return the prefix libflux would use for "f58" in this process.

    libflux emits "ƒ" only when LC_CTYPE is a UTF-8 locale and FLUX_F58_FORCE_ASCII is unset
    (any value, even empty, forces ASCII), else "f"; both are re-checked on every call.
    """
    if "FLUX_F58_FORCE_ASCII" in os.environ or nl_langinfo is None:
        return "f"
    return _F58_PREFIX if nl_langinfo(CODESET) == "UTF-8" else "f"


# ----------------------------------------------------------------------------------------------
# Encoders: each takes an int already known to be in [0, 2**64).


#: Every pair of f58 digits, by its value: an id is written two digits at a time.
_F58_PAIR_BASE = 58 * 58
_F58_PAIRS = tuple(a + b for a in _F58_ALPHABET for b in _F58_ALPHABET)


def _f58_digits(v: int) -> str:
    if v == 0:
        return "1"
    out = []
    while v >= _F58_PAIR_BASE:  # two digits a step
        v, r = divmod(v, _F58_PAIR_BASE)
        out.append(_F58_PAIRS[r])
    if v:
        out.append(_F58_PAIRS[v] if v >= 58 else _F58_ALPHABET[v])
    return "".join(reversed(out))


def _mnemonic_groups(v: int) -> tuple[int, int]:
    """Split v into the two 32-bit groups mnemonicode sees in the uint64's memory layout."""
    if _LITTLE_ENDIAN:
        return v & 0xFFFFFFFF, v >> 32
    mem = v.to_bytes(8, sys.byteorder)
    return int.from_bytes(mem[:4], "little"), int.from_bytes(mem[4:], "little")


def _encode_dec(v: int) -> str:
    return int.__repr__(v)


def _encode_hex(v: int) -> str:
    return f"0x{v:x}"


def _encode_dothex(v: int) -> str:
    return f"{v >> 48:04x}.{(v >> 32) & 0xFFFF:04x}.{(v >> 16) & 0xFFFF:04x}.{v & 0xFFFF:04x}"


def _encode_kvs(v: int) -> str:
    return "job." + _encode_dothex(v)


def _encode_f58(v: int) -> str:
    return _f58_prefix() + _f58_digits(v)


def _encode_f58plain(v: int) -> str:
    return "f" + _f58_digits(v)


def _encode_words(v: int) -> str:
    # mnemonicode turns each 32-bit group x into 3 words: x mod B, x/B mod B, x/B^2 (B = 1626),
    # and flux formats the 6 words as "w-w-w--w-w-w".
    words = _MN_WORDS
    base = _MN_BASE
    lo, hi = _mnemonic_groups(v)
    return (
        f"{words[lo % base]}-{words[lo // base % base]}-{words[lo // (base * base)]}--"
        f"{words[hi % base]}-{words[hi // base % base]}-{words[hi // (base * base)]}"
    )


def _encode_emoji(v: int) -> str:
    if v == 0:
        return _EMOJI[0]
    out = []
    while v:
        v, r = divmod(v, 576)
        out.append(_EMOJI[r])
    return "".join(reversed(out))


_ENCODERS: dict[bytes, Callable[[int], str]] = {
    b"dec": _encode_dec,
    b"hex": _encode_hex,
    b"kvs": _encode_kvs,
    b"dothex": _encode_dothex,
    b"words": _encode_words,
    b"f58": _encode_f58,
    b"f58plain": _encode_f58plain,
    b"emoji": _encode_emoji,
}
_STR_ENCODERS = {k.decode(): f for k, f in _ENCODERS.items()}

#: Encoding names accepted by :meth:`JobID.encode` (matched case-insensitively, like libflux).
ENCODINGS = tuple(_STR_ENCODERS)


# ----------------------------------------------------------------------------------------------
# Decoders: each mirrors one libflux code path on the NUL-terminated C string and returns the
# id, or None where libflux would fail.


def _decode_integer(s: bytes) -> int | None:
    """strtoull(s, base 10, or base 16 after "0x") followed only by whitespace."""
    if s.startswith(b"0x"):
        digits = _HEX_RUN.match(s, 2).group()  # type: ignore[union-attr]
        if not digits:  # strtoull stops at the "x"
            return None
        rest = s[2 + len(digits) :]
        base, max_len = 16, 16
    else:
        start = 1 if s.startswith(b"+") else 0
        digits = _DEC_RUN.match(s, start).group()  # type: ignore[union-attr]
        if not digits:  # no conversion: strtoull returns 0 with endptr at the start
            return None if s else 0
        rest = s[start + len(digits) :]
        base, max_len = 10, 20
    if rest.lstrip(_WS):
        return None
    digits = digits.lstrip(b"0")
    if len(digits) > max_len:  # ERANGE (also keeps int() away from huge inputs)
        return None
    v = int(digits, base) if digits else 0
    return v if v < _U64 else None


def _scan_hex4(s: bytes, pos: int) -> tuple[int, int] | None:
    """One glibc sscanf "%4x" conversion at s[pos:]: returns (unsigned int, new pos)."""
    n = len(s)
    while pos < n and s[pos] in _WS:
        pos += 1
    if pos >= n:
        return None
    width = 4
    negative = False
    if s[pos] in b"+-":
        negative = s[pos] == 0x2D
        width -= 1
        pos += 1
    have_digits = False
    if width and pos < n and s[pos] == 0x30:  # a leading "0", maybe followed by "x"/"X"
        have_digits = True
        width -= 1
        pos += 1
        if width and pos < n and s[pos] in b"xX":
            width -= 1
            pos += 1
    start = pos
    while width and pos < n and s[pos] in _HEX_DIGITS:
        width -= 1
        pos += 1
    if pos > start:
        have_digits = True
    if not have_digits:
        return None
    v = int(s[start:pos], 16) if pos > start else 0
    if negative:  # strtoul() negates in unsigned long; scanf then truncates to unsigned int
        v = -v & 0xFFFFFFFF
    return v, pos


def _decode_dothex(s: bytes) -> int | None:
    """sscanf(s, "%4x.%4x.%4x.%4x%n") == 4 with nothing left over."""
    fields = []
    pos = 0
    for i in range(4):
        if i:
            if s[pos : pos + 1] != b".":
                return None
            pos += 1
        scanned = _scan_hex4(s, pos)
        if scanned is None:
            return None
        value, pos = scanned
        fields.append(value)
    if pos != len(s):
        return None
    a, b, c, d = fields
    return ((a << 48) | (b << 32) | (c << 16) | d) & _MASK64


def _decode_words(s: bytes) -> int | None:
    """mn_decode() into 8 bytes; words are runs of ASCII letters, anything else separates."""
    indices = []
    for token in _ALPHA_RUN.findall(s):
        index = _MN_INDEX.get(token.lower())
        if index is None:  # mn_decode quietly stops at the first unknown word
            break
        if len(indices) == 6:  # a 7th word overruns the 8-byte buffer
            return None
        indices.append(index)
    if len(indices) != 6:
        return None
    base = _MN_BASE
    groups = []
    for a, b, c in (indices[:3], indices[3:]):
        if a >= base or b >= base or c >= base:  # 24-bit remainder words cannot fit here
            return None
        x = a + b * base
        if c >= 1625 or (c == 1624 and x > 1312671):  # would not fit in 32 bits
            return None
        groups.append(x + c * base * base)
    lo, hi = groups
    if _LITTLE_ENDIAN:
        return lo | (hi << 32)
    return int.from_bytes(lo.to_bytes(4, "little") + hi.to_bytes(4, "little"), sys.byteorder)


def _decode_f58(digits: bytes) -> int | None:
    """Base58 digits after the prefix: 1 to 12 of them, summed modulo 2**64 as libflux does.

    Bytes >= 0x80 are rejected.  libflux indexes its digit table with them as negative numbers
    (undefined behaviour): real builds accept most such bytes with build-dependent values.
    """
    if not digits or len(digits) > _F58_MAX_DIGITS:
        return None
    v = 0
    for byte in digits:
        d = _F58_VALUE.get(byte)
        if d is None:
            return None
        v = v * 58 + d
    return v & _MASK64


def _decode_emoji(s: bytes) -> int | None:
    """Basemoji: every 4-byte chunk must be in the table; summed modulo 2**64."""
    v = 0
    for i in range(0, len(s), 4):
        d = _EMOJI_INDEX.get(s[i : i + 4])
        if d is None:
            return None
        v = v * 576 + d
    return v & _MASK64


def _fluid_parse(s: bytes) -> int | None:
    """fluid_parse(): detect the encoding by its look, then decode it."""
    if not s:
        return None
    s = s.lstrip(_WS)
    # Order matters: "." means dothex and "-" means words even if the text starts with "f".
    if b"." in s:
        return _decode_dothex(s)
    if b"-" in s:
        return _decode_words(s)
    if s.startswith(_F58_PREFIX_UTF8):
        return _decode_f58(s[len(_F58_PREFIX_UTF8) :])
    if s.startswith(b"f"):
        return _decode_f58(s[1:])
    if 4 <= len(s) <= _EMOJI_MAX_BYTES and len(s) % 4 == 0 and s.startswith(b"\xf0\x9f"):
        return _decode_emoji(s)
    return _decode_integer(s)


def _parse_bytes(data: bytes) -> int | None:
    """flux_job_id_parse() on the C string `data`; None where libflux reports an error."""
    nul = data.find(b"\0")
    if nul >= 0:  # C sees the string only up to the first NUL
        data = data[:nul]
    if data.isdigit():  # fast path for plain decimal, the most common text form
        return int(data) if len(data) < 20 else _decode_integer(data)
    if not data:
        return None
    s = data.lstrip(_WS)
    if s.startswith(b"job."):
        s = s[4:]
    return _fluid_parse(s)


def _checked(v: int) -> int:
    """Convert like cffi does for a uint64_t argument, raising the same OverflowError."""
    if v < 0:
        raise OverflowError("can't convert negative number to unsigned")
    if v >= _U64:
        raise OverflowError("int too big to convert")
    return v


def _invalid_arguments(name: str, signature: str, arguments: str) -> ValueError:
    """The error flux's cffi wrapper raises when an argument has an unusable type."""
    return ValueError(
        "\nInvalid arguments passed to wrapped C function:\n"
        f"Name: {name}\nC signature: {signature}\nArguments: {arguments}\n          "
    )


def _c_string(value: object) -> bytes | None:
    """What flux's wrapper passes for a ``char *`` argument; None for an unusable type."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return value
    return None


class _OrigStr:
    """Default for ``JobID.orig_str``: the decimal text of the id.

    A non-data descriptor, so an ``orig_str`` stored in the instance ``__dict__`` wins.  Ids
    made from a plain int (the common, hot case) thus never allocate a ``__dict__``.
    """

    __slots__ = ()

    def __get__(self, obj: object, objtype: type | None = None) -> object:
        if obj is None:
            return self
        return int.__repr__(obj)  # type: ignore[arg-type]


class JobID(int):
    """A Flux job id (RFC 19 FLUID): an ``int`` that parses and prints every RFC 19 form.

    Drop-in for ``flux.job.JobID`` from flux-core 0.88.0, without needing libflux.  It can be
    built from an int (kept as is, even if negative or wider than 64 bits, as flux-core does) or
    from text in any form libflux accepts: decimal, ``0x`` hex, dotted hex, ``job.``-prefixed
    KVS path, F58 (``ƒ`` or ``f`` prefix), mnemonic words, or emoji.  Text that libflux would
    reject raises ``ValueError("<text> is not a valid Flux jobid")``.  Encodings are computed
    when asked for; reading one from an id outside ``[0, 2**64)`` raises ``OverflowError``.
    """

    orig_str = _OrigStr()

    def __new__(cls, value: int | str | bytes) -> JobID:
        if type(value) is int:
            return int.__new__(cls, value)
        if isinstance(value, JobID):
            # flux-core re-parses the original text, so JobID(JobID(-1)) raises ValueError.
            return cls(value.orig_str)
        if isinstance(value, int):
            jobid = value
        else:
            data = _c_string(value)
            if data is None and value is not None:  # None is passed to C as NULL: EINVAL
                raise _invalid_arguments(
                    "id_parse",
                    "int(*)(char *, uint64_t *)",
                    f"({value!r}, <cdata 'uint64_t[1]' owning 8 bytes>)",
                )
            parsed = None if data is None else _parse_bytes(data)
            if parsed is None:
                raise ValueError(f"{value} is not a valid Flux jobid")
            jobid = parsed
        self = int.__new__(cls, jobid)
        self.orig_str = str(value)
        return self

    def encode(self, encoding: str | bytes | None = "dec") -> str:
        """Return the id in `encoding`: one of :data:`ENCODINGS`, case-insensitive.

        ``None`` means "dec".  An unknown name raises ``OSError(EPROTO)``, as libflux does.
        """
        if type(encoding) is str:
            encoder = _STR_ENCODERS.get(encoding)
            if encoder is not None:
                return encoder(_checked(self))
        # Slow path, raising errors in the same order as flux-core's cffi call would.
        name = b"dec" if encoding is None else _c_string(encoding)
        value = _checked(self)
        if name is None:
            raise _invalid_arguments(
                "id_encode",
                "int(*)(uint64_t, char *, char *, size_t)",
                f"({int(self)!r}, {encoding!r}, <cdata 'char[]' owning 128 bytes>, 128)",
            )
        encoder = _ENCODERS.get(name.split(b"\0", 1)[0].lower())
        if encoder is None:
            raise OSError(errno.EPROTO, f"EPROTO: {os.strerror(errno.EPROTO)}")
        return encoder(value)

    @property
    def dec(self) -> str:
        """Decimal representation, e.g. ``"14495514624"``."""
        return _encode_dec(_checked(self))

    @property
    def hex(self) -> str:
        """``0x``-prefixed lower-case hexadecimal representation."""
        return _encode_hex(_checked(self))

    @property
    def dothex(self) -> str:
        """Dotted hex: four 16-bit groups, e.g. ``"0000.0003.6000.0000"``."""
        return _encode_dothex(_checked(self))

    @property
    def kvs(self) -> str:
        """KVS directory of the job: ``"job."`` followed by the dotted hex form."""
        return _encode_kvs(_checked(self))

    @property
    def words(self) -> str:
        """Mnemonic form, six words as ``"w-w-w--w-w-w"``."""
        return _encode_words(_checked(self))

    @property
    def f58(self) -> str:
        """F58 form with the ``ƒ`` prefix (``f`` outside UTF-8 locales or if forced ASCII)."""
        return _encode_f58(_checked(self))

    @property
    def f58plain(self) -> str:
        """F58 form that always uses the ASCII ``f`` prefix."""
        return _encode_f58plain(_checked(self))

    @property
    def emoji(self) -> str:
        """Basemoji form: the id in base 576, one emoji per digit."""
        return _encode_emoji(_checked(self))

    @property
    def orig(self) -> str:
        """The text the id was created from (``str()`` of the original argument)."""
        return self.orig_str  # type: ignore[return-value]

    def __str__(self) -> str:
        return self.f58

    def __repr__(self) -> str:
        return f"JobID({self.dec})"
