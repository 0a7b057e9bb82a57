"""XEP-0054 vcard-temp and XEP-0049 private XML storage, stored through
the storage workers."""

import base64
import os
import xml.etree.ElementTree as ET

from clients import q, stanza_error
from cluster import SM_LIMITS
from rfc6121 import accounts, close_and_wait, online, sync

NS_VCARD = "vcard-temp"
NS_PRIVATE = "jabber:iq:private"


def photo_vcard(nbytes, seed=b""):
    """A vCard with FN, characters that need escaping and a PHOTO whose
    BINVAL is base64 of nbytes random bytes in 76-column lines."""
    data = base64.encodebytes(os.urandom(nbytes) + seed).decode()   # lines end with \n
    xml = (f"<vCard xmlns='{NS_VCARD}'><FN>Ann &amp; Bob &lt;AB&gt;</FN><NICKNAME>ab</NICKNAME>"
           f"<PHOTO><TYPE>image/png</TYPE><BINVAL>{data}</BINVAL></PHOTO></vCard>")
    return xml, data


def vcard_of(r):
    assert r.get("type") == "result", (r.attrib, ET.tostring(r))
    v = r.find(q(NS_VCARD, "vCard"))
    assert v is not None, "no <vCard/> in the result"
    return v


def binval(v):
    return v.find(q(NS_VCARD, "PHOTO")).find(q(NS_VCARD, "BINVAL")).text


def test_vcard_set_get_by_owner_and_others(cluster, users, client, arun):
    """Own vCard: empty until set, then exactly what was set (BINVAL
    byte-exact); another account (other shard) gets it from the server,
    also while the owner is offline; nobody else may set it."""
    u, o = accounts(users, ["vcu", "vco"], shards="different")
    xml, data = photo_vcard(6000)

    async def body():
        uc = await online(client, u, "u")
        oc = await online(client, o, "o")
        v = vcard_of(await uc.iq("get", f"<vCard xmlns='{NS_VCARD}'/>"))
        assert len(v) == 0 and not (v.text or "").strip(), "an account without a vCard gets an empty one"
        v = vcard_of(await oc.iq("get", f"<vCard xmlns='{NS_VCARD}'/>", to=u))
        assert len(v) == 0, "same for others"
        r = await uc.iq("set", xml)
        assert r.get("type") == "result" and len(r) == 0, r.attrib
        for who, to in ((uc, None), (uc, u), (oc, u)):
            r = await who.iq("get", f"<vCard xmlns='{NS_VCARD}'/>", to=to)
            v = vcard_of(r)
            if to:
                assert r.get("from") == u, r.attrib
            assert v.findtext(q(NS_VCARD, "FN")) == "Ann & Bob <AB>"
            assert binval(v) == data, "BINVAL must round-trip byte for byte"
        r = await oc.iq("set", f"<vCard xmlns='{NS_VCARD}'><FN>mallory</FN></vCard>", to=u)
        assert r.get("type") == "error" and stanza_error(r) == ("auth", "forbidden")
        await close_and_wait(cluster, uc)
        v = vcard_of(await oc.iq("get", f"<vCard xmlns='{NS_VCARD}'/>", to=u))
        assert v.findtext(q(NS_VCARD, "FN")) == "Ann & Bob <AB>", "answered while the owner is offline"
        r = await oc.iq("get", f"<vCard xmlns='{NS_VCARD}'/>", to=users.unique("novcard"))
        assert r.get("type") == "error" and stanza_error(r) == ("cancel", "service-unavailable")

    arun(body())


def test_vcard_replace_and_size_limit(cluster, users, client, arun):
    (u,) = accounts(users, ["vcl"])
    small, _ = photo_vcard(1000)
    big, _ = photo_vcard(SM_LIMITS["max_vcard_size"])

    async def body():
        uc = await online(client, u, "u")
        assert (await uc.iq("set", small, to=u)).get("type") == "result", "set to the own bare JID"
        r = await uc.iq("set", big)
        assert r.get("type") == "error" and stanza_error(r) == ("modify", "not-acceptable"), "over the limit"
        v = vcard_of(await uc.iq("get", f"<vCard xmlns='{NS_VCARD}'/>"))
        assert len(binval(v)) < 2000, "the refused vCard replaced nothing"
        assert (await uc.iq("set", f"<vCard xmlns='{NS_VCARD}'><FN>new</FN></vCard>")).get("type") == "result"
        v = vcard_of(await uc.iq("get", f"<vCard xmlns='{NS_VCARD}'/>"))
        assert [c.tag for c in v] == [q(NS_VCARD, "FN")] and v.findtext(q(NS_VCARD, "FN")) == "new"

    arun(body())


def private_query(r):
    assert r.get("type") == "result", (r.attrib, ET.tostring(r))
    x = r.find(q(NS_PRIVATE, "query"))
    assert x is not None
    return x


def test_private_storage(cluster, users, client, arun):
    """Nothing stored: the asked element comes back empty; set, replace,
    several elements of one namespace, persistence across logins."""
    (u,) = accounts(users, ["pvu"])

    async def body():
        uc = await online(client, u, "u")
        x = private_query(await uc.iq("get", f"<query xmlns='{NS_PRIVATE}'><exodus xmlns='exodus:prefs'/></query>"))
        assert [(c.tag, len(c)) for c in x] == [(q("exodus:prefs", "exodus"), 0)]
        r = await uc.iq("set", f"<query xmlns='{NS_PRIVATE}'><exodus xmlns='exodus:prefs'>"
                               "<defaultnick>Hamlet</defaultnick></exodus></query>")
        assert r.get("type") == "result" and len(r) == 0
        r = await uc.iq("set", f"<query xmlns='{NS_PRIVATE}'><a xmlns='urn:x:two'>1</a><b xmlns='urn:x:two'/>"
                               "</query>")
        assert r.get("type") == "result"
        await close_and_wait(cluster, uc)
        uc = await online(client, u, "again")
        x = private_query(await uc.iq("get", f"<query xmlns='{NS_PRIVATE}'><exodus xmlns='exodus:prefs'/></query>"))
        assert x.find(q("exodus:prefs", "exodus")).findtext(q("exodus:prefs", "defaultnick")) == "Hamlet"
        x = private_query(await uc.iq("get", f"<query xmlns='{NS_PRIVATE}'><a xmlns='urn:x:two'/></query>"))
        assert [(c.tag, c.text) for c in x] == [(q("urn:x:two", "a"), "1"), (q("urn:x:two", "b"), None)]
        r = await uc.iq("set", f"<query xmlns='{NS_PRIVATE}'><exodus xmlns='exodus:prefs'><x/></exodus></query>")
        x = private_query(await uc.iq("get", f"<query xmlns='{NS_PRIVATE}'><exodus xmlns='exodus:prefs'/></query>"))
        assert [c.tag for c in x.find(q("exodus:prefs", "exodus"))] == [q("exodus:prefs", "x")], "replaced"

    arun(body())


def test_private_storage_errors(cluster, users, client, arun):
    u, o = accounts(users, ["pve", "pvo"], shards="different")
    limit = SM_LIMITS["max_private_size"]

    async def body():
        uc = await online(client, u, "u")
        oc = await online(client, o, "o")
        await sync(uc, oc)
        cases = [
            ("get", "", "modify", "not-acceptable"),
            ("set", "", "modify", "not-acceptable"),
            ("set", "<vCard xmlns='vcard-temp'><FN>x</FN></vCard>", "modify", "not-acceptable"),
            ("get", "<q xmlns='jabber:iq:roster'/>", "modify", "not-acceptable"),
            ("set", "<q xmlns='http://jabber.org/protocol/x'/>", "modify", "not-acceptable"),
            ("get", "<a xmlns='urn:a'/><b xmlns='urn:b'/>", "modify", "bad-request"),
            ("set", "<a xmlns='urn:a'/><b xmlns='urn:b'/>", "modify", "bad-request"),
            ("set", f"<big xmlns='urn:big'>{'x' * limit}</big>", "modify", "not-acceptable"),
        ]
        for itype, inner, etype, cond in cases:
            r = await uc.iq(itype, f"<query xmlns='{NS_PRIVATE}'>{inner}</query>")
            assert r.get("type") == "error" and stanza_error(r) == (etype, cond), (itype, inner[:60])
        for itype in ("get", "set"):
            r = await oc.iq(itype, f"<query xmlns='{NS_PRIVATE}'><a xmlns='urn:a'/></query>", to=u)
            assert r.get("type") == "error" and stanza_error(r) == ("cancel", "service-unavailable"), itype
        for i in range(SM_LIMITS["max_private_namespaces"]):
            r = await uc.iq("set", f"<query xmlns='{NS_PRIVATE}'><n xmlns='urn:n:{i}'/></query>")
            assert r.get("type") == "result", i
        r = await uc.iq("set", f"<query xmlns='{NS_PRIVATE}'><n xmlns='urn:n:one-too-many'/></query>")
        assert stanza_error(r) == ("modify", "not-acceptable"), "namespaces per user are limited"
        r = await uc.iq("set", f"<query xmlns='{NS_PRIVATE}'><n xmlns='urn:n:0'>again</n></query>")
        assert r.get("type") == "result", "replacing a stored namespace is fine at the limit"

    arun(body())
