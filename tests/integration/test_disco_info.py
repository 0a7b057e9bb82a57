"""XEP-0030 service discovery of the server and of accounts; XEP-0092
software version, XEP-0202 entity time and XEP-0012 last activity."""

import asyncio
import re
import time


from clients import q, stanza_error
from rfc6121 import (Account, Model, accounts, bare, build_state, close_and_wait, online,
                     send_presence, sync)

NS_INFO = "http://jabber.org/protocol/disco#info"
NS_ITEMS = "http://jabber.org/protocol/disco#items"
NS_LAST = "jabber:iq:last"

# Exactly what the server implements today; a module that registers a new
# IQ namespace or feature must show up here.
SERVER_FEATURES = sorted([
    NS_INFO, NS_ITEMS, NS_LAST, "jabber:iq:privacy", "jabber:iq:private", "jabber:iq:register", "jabber:iq:version", "msgoffline", "urn:xmpp:ping",
    "urn:xmpp:blocking", "urn:xmpp:time", "vcard-temp",
])
ACCOUNT_FEATURES = sorted([NS_INFO, NS_ITEMS, NS_LAST, "vcard-temp"])


def info_of(r):
    """(identities as (category, type) tuples, features) of a disco#info result."""
    assert r.get("type") == "result", (r.attrib, [c.tag for c in r])
    query = r.find(q(NS_INFO, "query"))
    assert query is not None, "no disco#info query in the result"
    ids = [(i.get("category"), i.get("type")) for i in query.findall(q(NS_INFO, "identity"))]
    feats = [f.get("var") for f in query.findall(q(NS_INFO, "feature"))]
    return ids, feats


def items_of(r):
    assert r.get("type") == "result", r.attrib
    query = r.find(q(NS_ITEMS, "query"))
    assert query is not None, "no disco#items query in the result"
    return sorted(i.get("jid") for i in query.findall(q(NS_ITEMS, "item")))


async def account_contact_stranger(client, users, prefix):
    """Three accounts online: u and its contact k (on different shards,
    not yet subscribed) and a stranger s; returns their clients."""
    (u, k), s = accounts(users, [prefix + "u", prefix + "k"], shards="different"), users.add(prefix + "s")
    clients = [await online(client, j, r, status=f"{r} here") for j, r in ((u, "u"), (k, "k"), (s, "s"))]
    await sync(*clients)
    return clients


def test_server_disco_info_lists_exactly_the_registered_features(cluster, users, client, arun):
    jid = users.add("disco")

    async def body():
        c = await client(jid).login()
        r = await c.iq("get", f"<query xmlns='{NS_INFO}'/>", to=cluster.domain)
        assert r.get("from") == cluster.domain
        ids, feats = info_of(r)
        assert ids == [("server", "im")]
        assert feats == SERVER_FEATURES, "features sorted, each once, exactly the implemented ones"
        r = await c.iq("get", f"<query xmlns='{NS_ITEMS}'/>", to=cluster.domain)
        assert items_of(r) == []
        for ns in (NS_INFO, NS_ITEMS):
            r = await c.iq("get", f"<query xmlns='{ns}' node='urn:example:none'/>", to=cluster.domain)
            assert r.get("type") == "error" and stanza_error(r) == ("cancel", "item-not-found"), ns
        r = await c.iq("set", f"<query xmlns='{NS_INFO}'/>", to=cluster.domain)
        assert stanza_error(r) == ("cancel", "service-unavailable"), "disco is get-only"

    arun(body())


def test_account_disco_answered_by_the_server_only_to_authorized(cluster, users, client, arun):
    """A bare JID's disco#info comes from the server with identity
    account/registered, for the account itself and for contacts with a
    'from' subscription; a stranger gets <service-unavailable/>, just like
    for an account that does not exist. disco#items lists available
    resources to the same entities and nothing to others."""
    async def body():
        uc, kc, sc = await account_contact_stranger(client, users, "da")
        u, k = bare(uc.jid), bare(kc.jid)
        await build_state(Model(Account(u, [uc]), Account(k, [kc])), "Both")
        await sync(uc, kc, sc)
        for who in (uc, kc):
            r = await who.iq("get", f"<query xmlns='{NS_INFO}'/>", to=u)
            assert r.get("from") == u, r.attrib
            ids, feats = info_of(r)
            assert ids == [("account", "registered")], who.jid
            assert feats == ACCOUNT_FEATURES, who.jid
            r = await who.iq("get", f"<query xmlns='{NS_ITEMS}'/>", to=u)
            assert items_of(r) == [uc.jid], who.jid
        r = await sc.iq("get", f"<query xmlns='{NS_INFO}'/>", to=u)
        assert r.get("type") == "error" and stanza_error(r) == ("cancel", "service-unavailable")
        r = await sc.iq("get", f"<query xmlns='{NS_ITEMS}'/>", to=u)
        assert items_of(r) == [], "a stranger learns no resources"
        ghost = users.unique("ghost")
        r = await sc.iq("get", f"<query xmlns='{NS_INFO}'/>", to=ghost)
        assert r.get("type") == "error" and stanza_error(r) == ("cancel", "service-unavailable")
        # a full JID is the client's business: delivered to it, not answered
        r = await sc.iq("get", f"<query xmlns='{NS_INFO}'/>", to=uc.jid)
        assert r.get("from") == uc.jid, r.attrib

    arun(body())


def test_version_and_time(cluster, users, client, arun):
    jid = users.add("ver")

    async def body():
        c = await client(jid).login()
        r = await c.iq("get", "<query xmlns='jabber:iq:version'/>", to=cluster.domain)
        assert r.get("type") == "result", r.attrib
        qv = r.find(q("jabber:iq:version", "query"))
        assert qv.findtext(q("jabber:iq:version", "name")) == "xmppd"
        assert re.fullmatch(r"\d+\.\d+\.\d+", qv.findtext(q("jabber:iq:version", "version")) or "")
        assert qv.find(q("jabber:iq:version", "os")) is None, "the OS is not disclosed"
        t0 = time.time()
        r = await c.iq("get", "<time xmlns='urn:xmpp:time'/>", to=cluster.domain)
        t = r.find(q("urn:xmpp:time", "time"))
        assert t.findtext(q("urn:xmpp:time", "tzo")) == "+00:00"
        utc = t.findtext(q("urn:xmpp:time", "utc"))
        m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{3}Z", utc or "")
        assert m, utc
        got = time.mktime(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert abs(got - t0) < 5, (utc, t0)

    arun(body())


def test_last_activity(cluster, users, client, arun):
    """Server: uptime. Bare JID: 0 while online; after logout the seconds
    since then and the last status; <forbidden/> to a stranger; an account
    never online: <item-not-found/>."""
    async def body():
        uc, kc, sc = await account_contact_stranger(client, users, "dl")
        u, k, stranger = bare(uc.jid), bare(kc.jid), bare(sc.jid)
        r = await kc.iq("get", f"<query xmlns='{NS_LAST}'/>", to=cluster.domain)
        assert r.get("type") == "result" and int(r.find(q(NS_LAST, "query")).get("seconds")) >= 0
        r = await kc.iq("get", f"<query xmlns='{NS_LAST}'/>", to=u)
        assert r.get("type") == "error" and stanza_error(r) == ("auth", "forbidden"), "no subscription yet"
        await build_state(Model(Account(u, [uc]), Account(k, [kc])), "Both")
        r = await kc.iq("get", f"<query xmlns='{NS_LAST}'/>", to=u)
        ql = r.find(q(NS_LAST, "query"))
        assert r.get("type") == "result" and ql.get("seconds") == "0" and not (ql.text or "")
        send_presence(uc, type="unavailable", status="Heading Home")
        await close_and_wait(cluster, uc)
        await asyncio.sleep(1.1)
        r = await kc.iq("get", f"<query xmlns='{NS_LAST}'/>", to=u)
        ql = r.find(q(NS_LAST, "query"))
        assert r.get("type") == "result", r.attrib
        assert 1 <= int(ql.get("seconds")) <= 30 and ql.text == "Heading Home"
        r = await sc.iq("get", f"<query xmlns='{NS_LAST}'/>", to=u)
        assert r.get("type") == "error" and stanza_error(r) == ("auth", "forbidden")
        r = await sc.iq("get", f"<query xmlns='{NS_LAST}'/>", to=stranger)
        assert r.get("type") == "result" and r.find(q(NS_LAST, "query")).get("seconds") == "0", "own account"
        nc = await online(client, users.add("dln"), "n", pres=False)
        r = await nc.iq("get", f"<query xmlns='{NS_LAST}'/>", to=nc.jid.split("/")[0])
        assert r.get("type") == "error" and stanza_error(r) == ("cancel", "item-not-found"), "never online"

    arun(body())
