"""Shared helpers for the RFC 6121 tests (test_rfc6121_*.py).

Waiting without sleeping
  sync(*clients) is a barrier: every ordered pair of the clients exchanges
  a marker message (type chat, to the full JID), twice in sequence, and
  each client's inbox is read up to the markers. Everything a server sent
  because of what happened before sync() travels ahead of the markers on
  the same paths (c2s -> sender's sm -> recipient's sm -> c2s, per-pair
  FIFO at every hop; see docs/architecture.md), so the returned lists hold
  exactly what each client got, and "nothing else arrived" is checked by
  comparing them with the expectation. Two rounds cover chains of up to
  four sm-to-sm hops (e.g. approval -> probe -> probe answer).
  What waits on storage is not ordered with the markers: stanzas for an
  account whose state is not loaded (nobody online: it is read first),
  offline messages (read after initial presence), errors about storing
  them. For those, wait_for_stanzas() / collect_offline() wait for the
  expected stanzas and then sync(); "nothing else" there is shown by a
  later stanza on the same path (an IQ or a stored message as marker).

Matching stanzas
  Pat(...) is a pattern of one element: attribute values are strings,
  ANY (present, any value), a set of allowed values (None = may be
  absent) or a predicate. Attributes the element has beyond the pattern
  fail the match, except 'id' and xml:lang, which are only compared when
  the pattern names them. Children are compared in order; a pattern's
  children may be Pats or plain elements (compared exactly, whitespace
  around text ignored). presence(), message(), push() build the usual
  ones. check(got, [Exp(pat, lo, hi), ...]) asserts that every stanza got
  matches one expectation and every expectation matched lo..hi stanzas.

Subscription model
  STATES are the nine states of RFC 6121 Appendix A.1; OUT[kind][state] /
  IN[kind][state] are Tables 2-9 verbatim (the server implements them
  literally). Model computes, for one subscription stanza sent by one
  account to another (both possibly with several resources), which
  stanzas every resource must (or may) receive, and the roster items of
  both sides afterwards. Choices where the RFC leaves room, and how the
  tests treat them:
    * a roster push for an outbound subscribe/unsubscribe (or a routed
      unsubscribed) that changes nothing visible is optional (3.1.2 and
      3.3.2 say "push", the tables say "no state change");
    * the unavailable acknowledgement of a delivered subscribe (3.1.3 #3,
      MAY) is optional;
    * after an approval the approver's available presence reaches the
      requester once or twice (3.1.5 sends current presence, 3.1.6 #3 / a
      probe may deliver it again);
    * unavailable presence with a denial of a request (unsubscribed or
      unsubscribe in a pending-in state, no presence was ever shared) is
      optional; with a cancelled subscription it is required;
    * whether 'approved' stays set once a pre-approval was used is local
      policy (3.4): either is accepted then.
"""

import asyncio
import datetime
import itertools
import os
import re
import time
import xml.etree.ElementTree as ET

from clients import NS_CLIENT, NS_ROSTER, get, q, stanza_error
from cluster import C2S_NODES, SM_SHARDS, shard_of
from conftest import PASSWORD

NS_DELAY = "urn:xmpp:delay"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_ROSTERVER = "urn:xmpp:features:rosterver"
NS_PREAPPROVAL = "urn:xmpp:features:pre-approval"

MESSAGE, PRESENCE, IQ = q(NS_CLIENT, "message"), q(NS_CLIENT, "presence"), q(NS_CLIENT, "iq")
XML_LANG = q(NS_XML, "lang")


def bare(jid):
    return jid.split("/", 1)[0]


# ---------------------------------------------------------------- XML text

def xs(el, _parent_ns=None):
    """Readable one-line XML of an ElementTree element (xmlns written
    where the namespace changes; jabber:client is the default)."""
    ns, local = (el.tag[1:].split("}", 1) if el.tag.startswith("{") else (None, el.tag))
    out = "<" + local
    if ns != (_parent_ns if _parent_ns is not None else NS_CLIENT):
        out += f" xmlns='{ns}'"
    for k, v in el.attrib.items():
        k = "xml:lang" if k == XML_LANG else k
        out += f" {k}='{v}'"
    inner = (el.text or "").strip() if len(el) == 0 else (el.text or "").strip()
    kids = "".join(xs(c, ns) + ((c.tail or "").strip()) for c in el)
    if not inner and not kids:
        return out + "/>"
    return out + ">" + _esc(inner) + kids + "</" + local + ">"


def _esc(t):
    return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse(text):
    """An element from XML text; without an xmlns the element is in
    jabber:client (like a stanza a client writes)."""
    wrapped = f"<wrap xmlns='{NS_CLIENT}'>{text}</wrap>"
    return ET.fromstring(wrapped)[0]


def same_element(a, b):
    """Exact structural equality (tag, attributes, stripped text, children
    in order)."""
    if a.tag != b.tag or dict(a.attrib) != dict(b.attrib):
        return False
    if (a.text or "").strip() != (b.text or "").strip():
        return False
    return len(a) == len(b) and all(same_element(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------- patterns

class _Any:
    def __repr__(self):
        return "ANY"


ANY = _Any()
STAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def parse_stamp(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def stamp_between(t0, t1, slack=2.0):
    """Predicate for a XEP-0082 stamp 'YYYY-MM-DDThh:mm:ssZ' within
    [t0 - slack, t1 + slack] (unix times)."""
    def ok(v):
        if v is None or not STAMP_RE.fullmatch(v):
            return False
        t = parse_stamp(v)
        return t0 - slack <= t <= t1 + slack
    ok.__name__ = f"stamp in [{_fmt_t(t0 - slack)}, {_fmt_t(t1 + slack)}]"
    return ok


def _fmt_t(t):
    return time.strftime("%H:%M:%S", time.gmtime(t))


class Pat:
    """Pattern of one element (see the module docstring)."""

    def __init__(self, tag, attrs=None, children=(), text=None, label=None):
        self.tag = tag
        self.attrs = dict(attrs or {})
        self.children = None if children is None else list(children)
        self.text = text
        self.label = label

    def matches(self, el):
        if el.tag != self.tag:
            return False
        for k, want in self.attrs.items():
            if not _attr_ok(el.get(k), want):
                return False
        for k in el.attrib:
            if k not in self.attrs and k not in ("id", XML_LANG):
                return False
        if self.text is not None:
            if (el.text or "").strip() != self.text:
                return False
        elif self.children is not None and (el.text or "").strip():
            return False
        if self.children is None:
            return True
        if len(el) != len(self.children):
            return False
        for c, p in zip(el, self.children):
            if isinstance(p, Pat):
                if not p.matches(c):
                    return False
            elif not same_element(c, p):
                return False
        return True

    def __repr__(self):
        if self.label:
            return self.label
        ns, local = self.tag[1:].split("}", 1)
        a = " ".join(f"{k}={_show_want(v)}" for k, v in self.attrs.items())
        kids = "" if self.children is None else "".join(
            repr(c) if isinstance(c, Pat) else xs(c) for c in self.children)
        return f"<{local} {a}>{self.text or ''}{kids}</{local}>"


def _attr_ok(have, want):
    if want is ANY:
        return have is not None
    if isinstance(want, (set, frozenset)):
        return have in want
    if callable(want):
        return want(have)
    return have == want


def _show_want(v):
    if isinstance(v, (set, frozenset)):
        return "{" + "|".join("(absent)" if x is None else repr(x) for x in
                              sorted(v, key=lambda x: (x is None, str(x)))) + "}"
    if callable(v) and not isinstance(v, _Any):
        return getattr(v, "__name__", "predicate")
    return repr(v)


def presence(frm, to, type=None, children=(), id=None, label=None):
    """Pattern of a presence. `to` may be a set of alternatives (None =
    absent allowed); children are elements or Pats; id is only compared
    when given."""
    attrs = {"from": frm, "to": to}
    if type is not None:
        attrs["type"] = type
    else:
        attrs["type"] = {None}
    if id is not None:
        attrs["id"] = id
    return Pat(PRESENCE, attrs, children, label=label)  # children None: any


def message(frm, to, type=None, children=(), id=None, label=None):
    attrs = {"from": frm, "to": to, "type": type if type is not None else {None}}
    if id is not None:
        attrs["id"] = id
    return Pat(MESSAGE, attrs, children, label=label)


def el(text):
    return parse(text)


def delay_pat(stamp_pred, frm=None):
    """<delay xmlns='urn:xmpp:delay' stamp=.../> (from=frm; frm may be a set)."""
    attrs = {"stamp": stamp_pred, "from": frm if frm is not None else {None}}
    return Pat(q(NS_DELAY, "delay"), attrs, ())


def error_pat(etype, condition):
    """<error type=etype><condition xmlns=stanzas/></error> (an optional
    <text/> is not allowed: the tests expect bare conditions)."""
    return Pat(q(NS_CLIENT, "error"), {"type": etype},
               [Pat(q(NS_STANZAS, condition), {}, ())])


# ------------------------------------------------------------ roster items

def item_of(item_el):
    """Roster <item/> element -> dict with defaults applied: subscription
    'none' when absent, approved False when absent, name None when absent
    or empty (2.4.1), groups sorted. Attributes outside the schema of
    Appendix D fail."""
    allowed = {"jid", "name", "subscription", "ask", "approved"}
    extra = set(item_el.attrib) - allowed
    assert not extra, f"roster item with unknown attributes {extra}: {xs(item_el)}"
    assert item_el.get("jid"), f"roster item without jid: {xs(item_el)}"
    ask = item_el.get("ask")
    assert ask in (None, "subscribe"), f"ask={ask!r}: {xs(item_el)}"
    appr = item_el.get("approved")
    assert appr in (None, "true", "false", "1", "0"), f"approved={appr!r}: {xs(item_el)}"
    for child in item_el:
        assert child.tag == q(NS_ROSTER, "group"), f"unexpected child of a roster item: {xs(item_el)}"
    return {
        "jid": item_el.get("jid"),
        "name": item_el.get("name") or None,
        "subscription": item_el.get("subscription", "none"),
        "ask": ask,
        "approved": appr in ("true", "1"),
        "groups": tuple(sorted((g.text or "") for g in item_el)),
    }


def item(jid, subscription="none", ask=None, approved=False, name=None, groups=()):
    """An expected roster item; approved may be ANY (either)."""
    return {"jid": jid, "name": name or None, "subscription": subscription, "ask": ask,
            "approved": approved, "groups": tuple(sorted(groups))}


def item_matches(have, want):
    for k, v in want.items():
        if v is ANY:
            continue
        if have.get(k) != v:
            return False
    return True


def show_item(it):
    parts = [f"jid={it['jid']}", f"subscription={it['subscription']}"]
    if it.get("ask"):
        parts.append(f"ask={it['ask']}")
    if it.get("approved") is ANY:
        parts.append("approved=(either)")
    elif it.get("approved"):
        parts.append("approved=true")
    if it.get("name"):
        parts.append(f"name={it['name']!r}")
    if it.get("groups"):
        parts.append(f"groups={list(it['groups'])}")
    return "item(" + " ".join(parts) + ")"


class PushPat:
    """A roster push to the resource `to`: iq type='set' from nowhere or
    the user's bare JID, one <query xmlns='jabber:iq:roster'/> (ver
    required when need_ver) holding exactly one item equal to `want`."""

    def __init__(self, to, want, need_ver=False, ver=None):
        self.to, self.want, self.need_ver, self.ver = to, want, need_ver, ver

    def matches(self, el):
        if el.tag != IQ or el.get("type") != "set" or el.get("to") != self.to:
            return False
        if el.get("from") not in (None, bare(self.to)) or not el.get("id"):
            return False
        if len(el) != 1 or el[0].tag != q(NS_ROSTER, "query") or len(el[0]) != 1:
            return False
        qe = el[0]
        if self.need_ver and qe.get("ver") is None:
            return False
        if self.ver is not None and qe.get("ver") != self.ver:
            return False
        if qe[0].tag != q(NS_ROSTER, "item"):
            return False
        try:
            have = item_of(qe[0])
        except AssertionError:
            return False
        return item_matches(have, self.want)

    def __repr__(self):
        v = " ver" if self.need_ver else ""
        return f"roster push{v} to {self.to}: {show_item(self.want)}"


def push(to, want, **kw):
    return PushPat(to, want, **kw)


def is_push(el):
    return (el.tag == IQ and el.get("type") == "set" and len(el) == 1
            and el[0].tag == q(NS_ROSTER, "query"))


def push_ver(el):
    return el[0].get("ver")


def push_item(el):
    return item_of(el[0][0])


# ------------------------------------------------------------ expectations

class Exp:
    """pat must match between lo and hi received stanzas."""

    def __init__(self, pat, lo=1, hi=None):
        self.pat, self.lo, self.hi = pat, lo, (lo if hi is None else hi)

    def __repr__(self):
        n = f"{self.lo}" if self.lo == self.hi else f"{self.lo}..{self.hi}"
        return f"[{n}x] {self.pat!r}"


def one(pat):
    return Exp(pat, 1, 1)


def maybe(pat):
    return Exp(pat, 0, 1)


def check(got, exps, who, context=""):
    """Assert that the stanzas `got` (received by `who`) are exactly
    `exps`: each stanza matches an expectation (first fit, in the order
    given), each expectation is matched lo..hi times."""
    counts = [0] * len(exps)
    unexpected = []
    for el_ in got:
        for i, e in enumerate(exps):
            if counts[i] < e.hi and e.pat.matches(el_):
                counts[i] += 1
                break
        else:
            unexpected.append(el_)
    missing = [(e, counts[i]) for i, e in enumerate(exps) if counts[i] < e.lo]
    if unexpected or missing:
        lines = [f"{who} {context}: the stanzas received differ from the expected ones"]
        lines.append("  received:")
        lines += [f"    {xs(x)}" for x in got] or ["    (nothing)"]
        lines.append("  expected:")
        lines += [f"    {e!r}" for e in exps] or ["    (nothing)"]
        if unexpected:
            lines.append("  not expected:")
            lines += [f"    {xs(x)}" for x in unexpected]
        if missing:
            lines.append("  missing:")
            lines += [f"    {e!r} (got {n})" for e, n in missing]
        raise AssertionError("\n".join(lines))


def assert_before(got, first, then, who, context=""):
    """The first stanza matching `first` comes before every stanza
    matching `then` (both must be present)."""
    i = next((k for k, x in enumerate(got) if first.matches(x)), None)
    j = next((k for k, x in enumerate(got) if then.matches(x)), None)
    assert i is not None and j is not None and i < j, (
        f"{who} {context}: expected {first!r} before {then!r}; received:\n" +
        "\n".join(f"    {xs(x)}" for x in got))


# ------------------------------------------------------------------- sync

_seq = itertools.count(1)


def _marker_id():
    return f"sync-{next(_seq)}"


def is_marker(el_):
    return el_.tag == MESSAGE and (el_.get("id") or "").startswith("sync-")


async def _read_until(c, want_ids, got, timeout):
    want = set(want_ids)
    while want:
        x = await get(c.inbox, timeout, f"sync markers {sorted(want)} at {c.jid}")
        if is_marker(x):
            assert x.get("id") in want, f"{c.jid}: unexpected marker {xs(x)} (waiting for {sorted(want)})"
            want.discard(x.get("id"))
        else:
            got.append(x)


async def sync(*clients, rounds=2, timeout=10.0, pairs=None):
    """Barrier over connected clients (see the module docstring). Returns
    {client: [stanzas received, markers left out]}; with one client, it
    sends its markers to itself. `pairs` (list of (a, b)) replaces all
    ordered pairs."""
    clients = list(clients)
    got = {c: [] for c in clients}
    if not clients:
        return got
    if pairs is None:
        pairs = [(a, b) for a in clients for b in clients if a is not b] or [(clients[0], clients[0])]
    for _ in range(rounds):
        want = {c: [] for c in clients}
        for a, b in pairs:
            mid = _marker_id()
            a.send_raw(f"<message xmlns='{NS_CLIENT}' to='{b.jid}' id='{mid}' type='chat'>"
                       f"<body>sync</body></message>")
            want[b].append(mid)
        await asyncio.gather(*(_read_until(c, want[c], got[c], timeout) for c in clients if want[c]))
    return got


def debug_dump(got, what):
    """With RFC6121_DEBUG=1 in the environment, print what sync() got
    (run pytest with -s to see it)."""
    if os.environ.get("RFC6121_DEBUG"):
        for c, g in got.items():
            print(f"--- {what}: {c.jid} got {len(g)}")
            for x in g:
                print("    " + xs(x))


async def next_stanza(c, timeout=10.0, what="a stanza"):
    return await get(c.inbox, timeout, f"{what} at {c.jid}")


async def wait_for_stanzas(c, pats, timeout=10.0, also=()):
    """Read c's inbox until every pattern in pats has matched a stanza
    (for answers that wait on storage, which a barrier does not wait for),
    then sync(c, *also). Returns {client: stanzas} like sync(), c's list
    including what was read before the barrier."""
    got = []
    left = list(pats)
    while left:
        x = await next_stanza(c, timeout, f"{left!r} (have {[xs(y) for y in got]})")
        got.append(x)
        left = [p for p in left if not p.matches(x)]
    rest = await sync(c, *also)
    rest[c] = got + rest[c]
    return rest


def is_delayed_message(x):
    return x.tag == MESSAGE and x.find(q(NS_DELAY, "delay")) is not None


async def collect_offline(c, n, also=(), timeout=10.0):
    """Offline messages are read from storage asynchronously after initial
    presence, so a barrier alone does not wait for them: read c's inbox
    until n messages with a <delay/> have come, then sync(c, *also).
    Returns {client: stanzas} like sync(), c's list including what was
    read before the barrier."""
    got = []
    while sum(1 for x in got if is_delayed_message(x)) < n:
        got.append(await next_stanza(c, timeout, f"{n} offline messages (have {len(got)} stanzas: "
                                                 f"{[xs(x) for x in got]})"))
    rest = await sync(c, *also)
    rest[c] = got + rest[c]
    return rest


# ------------------------------------------------------------ IQ helpers

async def roster_get(c, ver=None):
    v = "" if ver is None else f" ver='{ver}'"
    return await c.iq("get", f"<query xmlns='{NS_ROSTER}'{v}/>")


async def roster(c):
    """c's roster as {jid: item dict}; asserts a well-formed result."""
    r = await roster_get(c)
    assert r.get("type") == "result", f"roster get of {c.jid} failed: {xs(r)}"
    qe = r.find(q(NS_ROSTER, "query"))
    assert qe is not None and len(r) == 1, f"roster result without one <query/>: {xs(r)}"
    items = {}
    for it in qe:
        assert it.tag == q(NS_ROSTER, "item"), xs(r)
        d = item_of(it)
        assert d["jid"] not in items, f"{d['jid']} twice in the roster: {xs(r)}"
        items[d["jid"]] = d
    return items


def assert_roster(have, want, who):
    """have: {jid: item} from roster(); want: list of expected items."""
    w = {i["jid"]: i for i in want}
    bad = []
    for jid in sorted(set(have) | set(w)):
        if jid not in have:
            bad.append(f"missing {show_item(w[jid])}")
        elif jid not in w:
            bad.append(f"unexpected {show_item(have[jid])}")
        elif not item_matches(have[jid], w[jid]):
            bad.append(f"have {show_item(have[jid])}, want {show_item(w[jid])}")
    assert not bad, f"roster of {who}:\n  " + "\n  ".join(bad)


def roster_set_xml(jid, name=None, groups=(), subscription=None, extra_attrs=""):
    a = f" jid='{jid}'"
    if name is not None:
        a += f" name='{_attr_esc(name)}'"
    if subscription is not None:
        a += f" subscription='{subscription}'"
    g = "".join(f"<group>{_esc(x)}</group>" for x in groups)
    return f"<query xmlns='{NS_ROSTER}'><item{a}{extra_attrs}>{g}</item></query>"


def _attr_esc(t):
    return _esc(t).replace("'", "&apos;")


async def roster_set(c, jid, name=None, groups=(), subscription=None):
    return await c.iq("set", roster_set_xml(jid, name, groups, subscription))


def assert_result(r, who=""):
    assert r.get("type") == "result", f"{who} expected an IQ result, got {xs(r)}"


def assert_iq_error(r, etype, condition, who=""):
    assert r.get("type") == "error", f"{who} expected an IQ error {condition}, got {xs(r)}"
    have = stanza_error(r)
    if isinstance(etype, (set, frozenset)):
        ok = have[0] in etype and have[1] == condition
    else:
        ok = have == (etype, condition)
    assert ok, f"{who} expected error ({etype}, {condition}), got {have}: {xs(r)}"


# ------------------------------------------------------------ sessions

async def online(client, jid, resource=None, roster_get_first=True, pres=True, prio=None,
                 status=None, show=None, pid=None, password=None):
    """Log jid/resource in, request the roster (making the resource
    interested) and send initial presence (making it available). The sent
    presence is kept as c.last_presence (an element without from/to) for
    the expectations of probe answers and broadcasts."""
    full = f"{jid}/{resource}" if resource else jid
    c = client(full) if password is None else client(full, password)
    await c.login()
    c.last_presence = None
    if roster_get_first:
        r = await roster_get(c)
        assert_result(r, f"roster get of {c.jid}:")
    if pres:
        send_presence(c, prio=prio, status=status, show=show, pid=pid)
    return c


def send_presence(c, prio=None, status=None, show=None, pid=None, to=None, type=None, extra=""):
    """Send presence; broadcast presence (no to, no type) is remembered as
    c.last_presence."""
    kids = ""
    if show is not None:
        kids += f"<show>{show}</show>"
    if status is not None:
        kids += f"<status>{_esc(status)}</status>"
    if prio is not None:
        kids += f"<priority>{prio}</priority>"
    kids += extra
    attrs = ""
    if pid is None:
        pid = f"pres-{next(_seq)}"
    attrs += f" id='{pid}'"
    if to is not None:
        attrs += f" to='{to}'"
    if type is not None:
        attrs += f" type='{type}'"
    text = f"<presence xmlns='{NS_CLIENT}'{attrs}>{kids}</presence>"
    c.send_raw(text)
    sent = parse(text)
    if to is None and type is None:
        c.last_presence = sent
    return sent


def own_reflection(c_from, c_to, sent=None, type=None):
    """Pattern of presence of c_from as delivered to its own resource c_to:
    'to' may be absent, the bare JID or c_to's full JID (RFC 6121 4.2.2 and
    4.4.2 examples differ)."""
    sent = sent if sent is not None else c_from.last_presence
    return presence(c_from.jid, {None, bare(c_from.jid), c_to.jid}, type=type,
                    children=list(sent) if sent is not None else (),
                    id=sent.get("id") if sent is not None else None,
                    label=f"own presence of {c_from.jid}{' ' + type if type else ''} at {c_to.jid}")


def broadcast_to_contact(c_from, contact_bare, sent=None, type=None, keep_id=True):
    """Presence of c_from as a contact receives it: from the full JID, to
    the contact's bare JID, the full XML of what was sent."""
    sent = sent if sent is not None else c_from.last_presence
    return presence(c_from.jid, contact_bare, type=type, children=list(sent),
                    id=sent.get("id") if keep_id else None,
                    label=f"presence of {c_from.jid}{' ' + type if type else ''} to {contact_bare}")


def probe_answer(contact_c, user_c, keep_id=True):
    """Available presence of contact_c answering user_c's probe: from the
    contact's full JID, to the user's bare JID (the probe comes from it,
    4.3.1) or to the user's full JID, the last presence's full XML with
    its id (4.3.2.1)."""
    sent = contact_c.last_presence
    return presence(contact_c.jid, {bare(user_c.jid), user_c.jid}, children=list(sent),
                    id=sent.get("id") if keep_id else None,
                    label=f"presence of {contact_c.jid} (probe answer) to {bare(user_c.jid)}")


# ------------------------------------------------------------ messages

ERROR_PAYLOAD = "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"


def send_msg(c, to, mtype="chat", body="hello", mid=None, extra=""):
    """Send a message; returns the element as sent (no from)."""
    mid = mid or f"m-{time.monotonic_ns()}"
    t = f" type='{mtype}'" if mtype is not None else ""
    b = f"<body>{body}</body>" if body is not None else ""
    text = f"<message xmlns='{NS_CLIENT}' to='{to}' id='{mid}'{t}>{b}{extra}</message>"
    c.send_raw(text)
    return parse(text)


def delivered(sender, sent, to=None):
    """The message as the recipient gets it: sender's full JID stamped,
    'to' not rewritten, everything else as sent."""
    return message(sender.jid, to or sent.get("to"), sent.get("type") or {None}, list(sent),
                   id=sent.get("id"),
                   label=f"message {sent.get('id')} ({sent.get('type')}) from {sender.jid}")


class Bounce:
    """An error reply to `sent`: type='error', from the address it was sent
    to, to the sender, same id, an <error/> with the condition last,
    optionally preceded by the original payload (RFC 6120 8.3.1)."""

    def __init__(self, sender, sent, condition="service-unavailable", etype="cancel", frm=None):
        self.sender, self.sent, self.cond, self.etype = sender, sent, condition, etype
        self.frm = frm or sent.get("to")

    def matches(self, x):
        if x.tag != self.sent.tag or x.get("type") != "error" or x.get("id") != self.sent.get("id"):
            return False
        if x.get("from") != self.frm or x.get("to") != self.sender.jid or len(x) == 0:
            return False
        if not error_pat(self.etype, self.cond).matches(x[-1]):
            return False
        payload = list(x)[:-1]
        if not payload:
            return True
        return (len(payload) == len(self.sent) and
                all(same_element(a, b) for a, b in zip(payload, self.sent)))

    def __repr__(self):
        return f"error {self.cond} for {self.sent.tag.split('}')[1]} {self.sent.get('id')} from {self.frm}"


def offline_copy(sender, sent, t0, t1, domain, to=None):
    """A stored message as delivered: as sent (from the sender's full JID,
    'to' unchanged), plus a delay from the domain stamped between t0 and
    t1."""
    kids = list(sent) + [delay_pat(stamp_between(t0, t1), domain)]
    return message(sender.jid, to or sent.get("to"), sent.get("type") or {None}, kids, id=sent.get("id"),
                   label=f"offline copy of {sent.get('id')} with delay")


# ------------------------------------------------------------ accounts

def accounts(users, prefixes, shards=None):
    """New accounts, one per prefix. shards: None (any), 'different'
    (the first two on different sm shards) or 'same' (all on one shard)."""
    out = []
    for i, p in enumerate(prefixes):
        while True:
            jid = users.unique(p)
            if shards == "different" and i == 1 and shard_of(jid) == shard_of(out[0]):
                continue
            if shards == "same" and i > 0 and shard_of(jid) != shard_of(out[0]):
                continue
            break
        users.cluster.add_user(jid, PASSWORD)
        out.append(jid)
    return out


async def close_and_wait(cluster, c):
    """Close c's stream cleanly and wait until its sm has ended the
    session (the c2s tells the sm after the socket closes, so without
    this a stanza sent right after could still find the session)."""
    since = cluster.log_offsets(SM_SHARDS)
    jid = c.jid
    await c.close()
    await c.wait_disconnected()
    await cluster.wait_log(SM_SHARDS, r"session ended jid=%s " % re.escape(jid), since)


async def login_on(cluster, client, jid, resource, avoid_c2s=None, tries=20):
    """Log jid in (resource <resource><k>) until its session is on a c2s
    other than avoid_c2s; returns (client, c2s node)."""
    for attempt in range(tries):
        since = cluster.log_offsets()
        c = client(f"{jid}/{resource}{attempt}")
        await c.login()
        node, _ = await cluster.wait_log(
            C2S_NODES, r"session bound jid=%s conn=(\d+)\b" % re.escape(c.jid), since)
        if node != avoid_c2s:
            return c, node
        await c.close()
        await c.wait_disconnected()
    raise AssertionError(f"{jid} landed on {avoid_c2s} in all {tries} attempts")


# ------------------------------------------------------------ the model

STATES = ("None", "None+PO", "None+PI", "None+PO+PI", "To", "To+PI", "From", "From+PO", "Both")
# (to, from, pending out, pending in)
BITS = {
    "None": (0, 0, 0, 0), "None+PO": (0, 0, 1, 0), "None+PI": (0, 0, 0, 1),
    "None+PO+PI": (0, 0, 1, 1), "To": (1, 0, 0, 0), "To+PI": (1, 0, 0, 1),
    "From": (0, 1, 0, 0), "From+PO": (0, 1, 1, 0), "Both": (1, 1, 0, 0),
}
_BY_BITS = {v: k for k, v in BITS.items()}


def mirror(state):
    t, f, po, pi = BITS[state]
    return _BY_BITS[(f, t, pi, po)]


def has_to(s):
    return bool(BITS[s][0])


def has_from(s):
    return bool(BITS[s][1])


def has_po(s):
    return bool(BITS[s][2])


def has_pi(s):
    return bool(BITS[s][3])


def sub_attr(s):
    t, f = BITS[s][:2]
    return {(0, 0): "none", (1, 0): "to", (0, 1): "from", (1, 1): "both"}[(t, f)]


_S = None   # "no state change"
# Appendix A.2: outbound, (route, new state); "pre-approval" per footnote.
OUT = {
    "subscribe": {
        "None": ("MUST", "None+PO"), "None+PO": ("MUST", _S), "None+PI": ("MUST", "None+PO+PI"),
        "None+PO+PI": ("MUST", _S), "To": ("MUST", _S), "To+PI": ("MUST", _S),
        "From": ("MUST", "From+PO"), "From+PO": ("MUST", _S), "Both": ("MUST", _S)},
    "unsubscribe": {
        "None": ("MUST", _S), "None+PO": ("MUST", "None"), "None+PI": ("MUST", _S),
        "None+PO+PI": ("MUST", "None+PI"), "To": ("MUST", "None"), "To+PI": ("MUST", "None+PI"),
        "From": ("MUST", _S), "From+PO": ("MUST", "From"), "Both": ("MUST", "From")},
    "subscribed": {
        "None": ("M.N.", "pre-approval"), "None+PO": ("M.N.", "pre-approval"),
        "None+PI": ("MUST", "From"), "None+PO+PI": ("MUST", "From+PO"),
        "To": ("M.N.", "pre-approval"), "To+PI": ("MUST", "Both"),
        "From": ("M.N.", _S), "From+PO": ("M.N.", _S), "Both": ("M.N.", _S)},
    "unsubscribed": {
        "None": ("S.N.", _S), "None+PO": ("S.N.", _S), "None+PI": ("MUST", "None"),
        "None+PO+PI": ("MUST", "None+PO"), "To": ("S.N.", _S), "To+PI": ("MUST", "To"),
        "From": ("MUST", "None"), "From+PO": ("MUST", "None+PO"), "Both": ("MUST", "To")},
}
# Appendix A.3: inbound, (deliver, new state, auto-reply).
IN = {
    "subscribe": {
        "None": ("MUST", "None+PI", None), "None+PO": ("MUST", "None+PO+PI", None),
        "None+PI": ("S.N.", _S, None), "None+PO+PI": ("S.N.", _S, None),
        "To": ("MUST", "To+PI", None), "To+PI": ("S.N.", _S, None),
        "From": ("S.N.", _S, "subscribed"), "From+PO": ("S.N.", _S, "subscribed"),
        "Both": ("S.N.", _S, "subscribed")},
    "unsubscribe": {
        "None": ("S.N.", _S, None), "None+PO": ("S.N.", _S, None),
        "None+PI": ("MUST", "None", "unsubscribed"), "None+PO+PI": ("MUST", "None+PO", "unsubscribed"),
        "To": ("S.N.", _S, None), "To+PI": ("MUST", "To", "unsubscribed"),
        "From": ("MUST", "None", "unsubscribed"), "From+PO": ("MUST", "None+PO", "unsubscribed"),
        "Both": ("MUST", "To", "unsubscribed")},
    "subscribed": {
        "None": ("S.N.", _S, None), "None+PO": ("MUST", "To", None), "None+PI": ("S.N.", _S, None),
        "None+PO+PI": ("MUST", "To+PI", None), "To": ("S.N.", _S, None), "To+PI": ("S.N.", _S, None),
        "From": ("S.N.", _S, None), "From+PO": ("MUST", "Both", None), "Both": ("S.N.", _S, None)},
    "unsubscribed": {
        "None": ("S.N.", _S, None), "None+PO": ("MUST", "None", None), "None+PI": ("S.N.", _S, None),
        "None+PO+PI": ("MUST", "None+PI", None), "To": ("MUST", "None", None),
        "To+PI": ("MUST", "None+PI", None), "From": ("S.N.", _S, None),
        "From+PO": ("MUST", "From", None), "Both": ("MUST", "From", None)},
}
# Pre-approved inbound subscribe (3.4.2, Table 6 [1] generalised): auto-reply, new state.
PREAPPROVED = {"None": "From", "None+PO": "From+PO", "To": "Both"}

KINDS = ("subscribe", "unsubscribe", "subscribed", "unsubscribed")


class Account:
    """One side of the model: an account with its resources (Clients),
    each available and/or interested, and its view of the other side."""

    def __init__(self, jid, clients=(), available=None, interested=None):
        self.jid = jid
        self.clients = list(clients)
        self.available = set(available if available is not None else self.clients)
        self.interested = set(interested if interested is not None else self.clients)
        self.state = "None"
        self.item = False           # a roster item for the peer exists
        self.approved = False       # True, False or ANY (pre-approval used: policy)

    def visible(self, peer):
        if not self.item:
            return None
        return item(peer.jid, sub_attr(self.state), "subscribe" if has_po(self.state) else None,
                    self.approved)

    def snapshot(self):
        return (self.state, self.item, self.approved)


class Outcome:
    """Expectations per client, and ordering constraints."""

    def __init__(self):
        self.exps = {}
        self.order = []             # (client, first pat, then pat)

    def add(self, clients, exp):
        """exp: an Exp, or a function client -> Exp."""
        for c in clients:
            self.exps.setdefault(c, []).append(exp(c) if callable(exp) else exp)

    def before(self, clients, first, then):
        """first/then: patterns, or functions client -> pattern."""
        for c in clients:
            self.order.append((c, first(c) if callable(first) else first,
                               then(c) if callable(then) else then))


class Model:
    """Two accounts u and c; step(kind, actor, sid) predicts what one
    subscription stanza from actor to the other account causes (see the
    module docstring) and updates both sides."""

    def __init__(self, u, c):
        self.u, self.c = u, c

    def other(self, a):
        return self.c if a is self.u else self.u

    def _push(self, out, who, peer, required):
        it = who.visible(peer)
        if it is None:
            return None
        out.add(who.interested, lambda cl: Exp(push(cl.jid, it), 1 if required else 0, 1))
        return lambda cl: push(cl.jid, it)

    def _presence_of(self, out, src, dst, type=None, lo=1, hi=1):
        """Presence from each available resource of src to dst's bare JID,
        at each of dst's available resources; returns the patterns."""
        pats = []
        for s in sorted(src.available, key=lambda k: k.jid):
            if type is None:
                pat = broadcast_to_contact(s, dst.jid, keep_id=False)
            else:
                pat = presence(s.jid, dst.jid, type=type, children=(),
                               label=f"{type} of {s.jid} to {dst.jid}")
            out.add(dst.available, Exp(pat, lo, hi))
            pats.append(pat)
        return pats

    def _stanza(self, src, dst, kind, sid):
        return presence(src.jid, dst.jid, type=kind, id=sid, children=(),
                        label=f"{kind} from {src.jid} to {dst.jid} id={sid}")

    def _transition(self, out, who, peer, new_state, creates_item=False, approved=None):
        """Apply a state change of `who`; push required if the visible item
        changed, optional if it exists and did not. Returns the pattern
        factory of the (required) push or None."""
        before = who.visible(peer)
        if new_state is not None:
            who.state = new_state
        if creates_item:
            who.item = True
        if approved is not None:
            who.approved = approved
        after = who.visible(peer)
        if after is None:
            return None
        changed = before is None or not _same_visible(before, after)
        f = self._push(out, who, peer, changed)
        return f if changed else None

    def step(self, kind, actor, sid):
        x, y = actor, self.other(actor)
        out = Outcome()
        sx, sy = x.state, y.state
        route, new = OUT[kind][sx]
        routed = route == "MUST"
        # ---- outbound processing at x (Appendix A.2)
        if kind == "subscribed" and new == "pre-approval":
            self._transition(out, x, y, None, creates_item=True, approved=True)       # 3.4.2 #3, #4
        elif kind == "unsubscribed" and not routed:
            if x.approved is not False:                                               # 3.2.2 #2
                self._transition(out, x, y, None, approved=False)
        elif not routed:
            pass                                                                      # 3.4.2 #1
        else:
            self._transition(out, x, y, new, creates_item=kind in ("subscribe", "subscribed"),
                             approved=False if kind == "unsubscribed" else None)
        unavail_x = []
        if routed and kind == "subscribed":
            self._presence_of(out, x, y, lo=1, hi=2)                                  # 3.1.5
        if routed and kind == "unsubscribed":
            unavail_x = self._presence_of(out, x, y, type="unavailable",              # 3.2.2
                                          lo=1 if has_from(sx) else 0)
        if not routed:
            return out
        # ---- inbound processing at y (Appendix A.3)
        stanza = self._stanza(x, y, kind, sid)
        if kind == "subscribe":
            if y.approved is not False and sy in PREAPPROVED:                         # 3.4.2
                self._transition(out, y, x, PREAPPROVED[sy], creates_item=True, approved=ANY)
                self._autoreply(out, y, x, "subscribed", sid)
                return out
            deliver, ny, auto = IN[kind][sy]
            if deliver == "MUST":
                out.add(y.available, one(stanza))
                ack = presence(y.jid, x.jid, type="unavailable", children=(),
                               label=f"(optional) unavailable ack from {y.jid} to {x.jid}")
                out.add(x.available, maybe(ack))                                      # 3.1.3 #3
            if ny is not None:
                y.state = ny
            if auto:
                # Some servers send current presence with the auto-reply.
                self._presence_of(out, y, x, lo=0, hi=1)
                self._autoreply(out, y, x, auto, sid)
            return out
        deliver, ny, auto = IN[kind][sy]
        if deliver != "MUST":
            return out
        out.add(y.interested, one(stanza))
        f = self._transition(out, y, x, ny, creates_item=kind == "subscribed")
        if f is not None:
            out.before(y.interested, stanza, f)
        if kind == "unsubscribe":                                                     # 3.3.3 #3
            self._presence_of(out, y, x, type="unavailable", lo=1 if has_from(sy) else 0)
        if kind == "unsubscribed" and has_from(sx):
            for u in unavail_x:
                out.before(y.available & y.interested, u, stanza)
        if auto:
            self._autoreply(out, y, x, auto, sid)
        return out

    def _autoreply(self, out, y, x, kind, sid):
        """y's server answers x on y's behalf; inbound processing at x."""
        sx = x.state
        deliver, nx, _ = IN[kind][sx]
        if deliver != "MUST":
            return
        stanza = presence(y.jid, x.jid, type=kind, children=(),
                          label=f"auto-reply {kind} from {y.jid} to {x.jid}")
        out.add(x.interested, one(stanza))
        f = self._transition(out, x, y, nx, creates_item=kind == "subscribed")
        if f is not None:
            out.before(x.interested, stanza, f)
        if kind == "subscribed":
            self._presence_of(out, y, x, lo=1, hi=2)

    def check_outcome(self, out, got, context):
        for c in set(got) | set(out.exps):
            check(got.get(c, []), out.exps.get(c, []), c.jid, context)
        for c, a, b in out.order:
            assert_before(got.get(c, []), a, b, c.jid, context)


def _same_visible(a, b):
    return all(a[k] == b[k] or a[k] is ANY or b[k] is ANY for k in a)


_sids = itertools.count(1)


def send_sub(client, to, kind, sid=None):
    sid = sid or f"{kind}-{next(_sids)}"
    client.send_raw(f"<presence xmlns='{NS_CLIENT}' to='{to}' type='{kind}' id='{sid}'/>")
    return sid


async def step(model, kind, actor, context="", to=None):
    """Send one subscription stanza from actor's first client to the
    other account, sync all clients, check everything received against
    the model."""
    peer = model.other(actor)
    sender = actor.clients[0]
    out_before = (model.u.snapshot(), model.c.snapshot())
    sid = send_sub(sender, to or peer.jid, kind)
    out = model.step(kind, actor, sid)
    got = await sync(*(model.u.clients + model.c.clients))
    debug_dump(got, f"{kind} from {actor.jid}")
    model.check_outcome(out, got, f"after {kind} from {actor.jid} to {peer.jid} "
                                  f"(states before: {out_before}) {context}")
    return got


# Ways to reach each state of u toward c by the protocol: (kind, actor).
RECIPES = {
    "None": [],
    "None+PO": [("subscribe", "u")],
    "None+PI": [("subscribe", "c")],
    "None+PO+PI": [("subscribe", "u"), ("subscribe", "c")],
    "To": [("subscribe", "u"), ("subscribed", "c")],
    "To+PI": [("subscribe", "u"), ("subscribed", "c"), ("subscribe", "c")],
    "From": [("subscribe", "c"), ("subscribed", "u")],
    "From+PO": [("subscribe", "c"), ("subscribed", "u"), ("subscribe", "u")],
    "Both": [("subscribe", "u"), ("subscribed", "c"), ("subscribe", "c"), ("subscribed", "u")],
}


async def two_resources_contact_witness(client, users, prefix):
    """A user u with two resources ("one", "two") and a contact k on the
    other shard, subscribed both ways, plus an unrelated witness w, all
    online. Returns (u, k, u1, u2, kc, wc)."""
    u, k = accounts(users, [prefix + "u", prefix + "k"], shards="different")
    w = users.add(prefix + "w")
    u1 = await online(client, u, "one", status="u1")
    u2 = await online(client, u, "two", status="u2")
    kc = await online(client, k, "k", status="k")
    wc = await online(client, w, "w", status="w")
    await sync(u1, u2, kc, wc)
    await build_state(Model(Account(u, [u1, u2]), Account(k, [kc])), "Both")
    await sync(u1, u2, kc, wc)
    return u, k, u1, u2, kc, wc


async def build_state(model, state):
    """Drive the protocol until model.u is in `state` toward model.c
    (checking every step against the model)."""
    for kind, who in RECIPES[state]:
        actor = model.u if who == "u" else model.c
        await step(model, kind, actor, context=f"(building state {state})")
    assert model.u.state == state and model.c.state == mirror(state), (model.u.state, model.c.state)


async def check_rosters(model):
    """Roster gets on both sides agree with the model."""
    for a in (model.u, model.c):
        b = model.other(a)
        want = [a.visible(b)] if a.visible(b) is not None else []
        assert_roster(await roster(a.clients[0]), want, a.jid)


async def check_pending_in(model):
    """Reveal the hidden pending-in bits: the other side sends subscribe;
    it reaches the available resources iff the state has neither 'from'
    nor pending-in (Table 6). Changes the states: run last."""
    for a in (model.u, model.c):
        b = model.other(a)
        s = a.state
        if has_from(s) or a.approved is not False:
            continue        # auto-replied, never delivered: nothing to learn
        sid = send_sub(b.clients[0], a.jid, "subscribe")
        got = await sync(*(model.u.clients + model.c.clients))
        delivered = [x for x in got[a.clients[0]] if x.tag == PRESENCE and x.get("type") == "subscribe"]
        want = 0 if has_pi(s) else 1
        assert len(delivered) == want, (
            f"{a.jid} is in state {s} toward {b.jid}: a new subscribe from it should "
            f"{'not ' if want == 0 else ''}be delivered; got {[xs(x) for x in got[a.clients[0]]]}")
        assert all(x.get("id") == sid for x in delivered)
        # Keep the model roughly right for the second probe.
        a.state = IN["subscribe"][s][1] or s
        ob = OUT["subscribe"][b.state][1]
        if ob:
            b.state = ob
            b.item = True
