"""XEP-0115 entity capabilities: the server asks once for an unknown ver,
checks the hash of the answer (the XEP's own examples as the oracle) and
caches only a verified ver in Redis for every shard; a known ver is not
asked again; a forged one is never cached."""

import base64
import hashlib
import json
import subprocess
import time

from clients import NS_CLIENT, RawStream, q
from conftest import PASSWORD
from rfc6121 import accounts, xs

NS_CAPS = "http://jabber.org/protocol/caps"
NS_INFO = "http://jabber.org/protocol/disco#info"
NODE = "http://psi-im.org"
# XEP-0115 section 5.3, the complex example: this answer hashes to this ver
PSI_VER = "q07IKJEyjvHSyhy//CH0CxmKi8w="
PSI_INFO = (  # in another order than the XEP lists it: the server must sort
    f"<feature var='http://jabber.org/protocol/muc'/><identity xml:lang='en' category='client' name='Psi 0.11' "
    "type='pc'/><x xmlns='jabber:x:data' type='result'><field var='software'><value>Psi</value></field>"
    "<field var='ip_version'><value>ipv6</value><value>ipv4</value></field>"
    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
    "<field var='os'><value>Mac</value></field><field var='os_version'><value>10.5.1</value></field>"
    "<field var='software_version'><value>0.11</value></field></x>"
    f"<feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/caps'/>"
    "<identity xml:lang='el' category='client' name='&#936; 0.11' type='pc'/>"
    "<feature var='http://jabber.org/protocol/disco#items'/>"
)


def redis_get(cluster, key):
    r = subprocess.run(["redis-cli", "-p", str(cluster.redis_port), "--raw", "GET", key],
                       capture_output=True, text=True, timeout=10)
    return r.stdout.strip() or None


def wait_redis(cluster, key, timeout=5.0):
    for _ in range(int(timeout / 0.1)):
        v = redis_get(cluster, key)
        if v:
            return v
        time.sleep(0.1)
    return None


def raw_client(cluster, jid):
    """A raw stream logged in as jid (a slixmpp client would answer the
    server's disco#info query by itself)."""
    raw = RawStream(cluster.port)
    full = raw.login(cluster.cert, jid.split("@")[0], PASSWORD, resource="psi")
    return raw, full


def caps_presence(raw, ver):
    raw.send(f"<presence><c xmlns='{NS_CAPS}' hash='sha-1' node='{NODE}' ver='{ver}'/></presence>")


def disco_query(raw, full, ver, timeout=5.0):
    """The server's disco#info query for node#ver (own presence may come first)."""
    while True:
        x = raw.next(timeout=timeout)
        if x.tag == q(NS_CLIENT, "iq"):
            break
    assert x.get("type") == "get" and x.get("to") == full, xs(x)
    qn = x.find(q(NS_INFO, "query"))
    assert qn is not None and qn.get("node") == f"{NODE}#{ver}", xs(x)
    return x


def answer(raw, x, ver):
    raw.send(f"<iq type='result' id='{x.get('id')}' to='{x.get('from')}'>"
             f"<query xmlns='{NS_INFO}' node='{NODE}#{ver}'>{PSI_INFO}</query></iq>")


def test_caps_verified_once_cached_for_all_shards(cluster, users):
    a, b = accounts(users, ["capa", "capb"], shards="different")
    key = f"caps:sha-1:{PSI_VER}"
    (ar, afull), (br, bfull) = raw_client(cluster, a), raw_client(cluster, b)
    try:
        assert redis_get(cluster, key) is None, "nothing cached before"
        caps_presence(ar, PSI_VER)
        answer(ar, disco_query(ar, afull, PSI_VER), PSI_VER)
        v = wait_redis(cluster, key)
        assert v is not None, "a verified ver is cached in Redis"
        assert sorted(json.loads(v)) == sorted([
            "http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"])
        # the other shard knows it from Redis: b gets its own presence back and no query
        caps_presence(br, PSI_VER)
        x = br.next(timeout=5)
        assert x.tag == q(NS_CLIENT, "presence"), xs(x)
        br.send(f"<iq type='get' id='ping1' to='{cluster.domain}'><ping xmlns='urn:xmpp:ping'/></iq>")
        x = br.next(timeout=5)
        assert x.tag == q(NS_CLIENT, "iq") and x.get("id") == "ping1", f"only the ping answer, got {xs(x)}"
    finally:
        ar.close()
        br.close()


def test_forged_caps_are_not_cached(cluster, users):
    (a,) = accounts(users, ["capf"])
    forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    ar, afull = raw_client(cluster, a)
    try:
        since = cluster.log_offsets(["sm.0", "sm.1"])
        caps_presence(ar, forged)
        answer(ar, disco_query(ar, afull, forged), forged)
        deadline = time.monotonic() + 10
        while not any(cluster.find_log(n, "caps sha-1 %s .* does not match" % forged, since) for n in ("sm.0", "sm.1")):
            assert time.monotonic() < deadline, "the sm did not report the forged ver"
            time.sleep(0.1)
        assert redis_get(cluster, f"caps:sha-1:{forged}") is None
        # announced again: asked again, since nothing was cached
        caps_presence(ar, forged)
        disco_query(ar, afull, forged)
    finally:
        ar.close()


def test_server_caps_in_stream_features(cluster, users):
    """The domain's own caps are in the stream features (of a c2s that
    has seen a bind answer since it started), and their ver is the hash of
    the domain's disco#info answer."""
    (a,) = accounts(users, ["capsrv"])
    c = None
    for _ in range(12):
        raw = RawStream(cluster.port)
        try:
            raw.open()
            c = raw.features().find(q(NS_CAPS, "c"))
        finally:
            raw.close()
        if c is not None:
            break
        raw, _ = raw_client(cluster, a)    # a bind teaches that c2s the caps
        raw.close()
    assert c is not None, "no caps in the stream features"
    assert c.get("hash") == "sha-1" and c.get("node") == "urn:xmppd", c.attrib
    raw, _ = raw_client(cluster, a)
    try:
        raw.send(f"<iq type='get' id='d1' to='{cluster.domain}'><query xmlns='{NS_INFO}'/></iq>")
        r = raw.next(timeout=5)
        qn = r.find(q(NS_INFO, "query"))
        ids = sorted(f"{i.get('category')}/{i.get('type')}//{i.get('name') or ''}"
                     for i in qn.findall(q(NS_INFO, "identity")))
        feats = sorted(f.get("var") for f in qn.findall(q(NS_INFO, "feature")))
        s = "".join(x + "<" for x in ids + feats)
        assert base64.b64encode(hashlib.sha1(s.encode()).digest()).decode() == c.get("ver")
    finally:
        raw.close()
