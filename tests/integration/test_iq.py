"""IQ handling by the sm: ping, roster, unknown namespaces."""

import pytest

from clients import NS_CLIENT, NS_ROSTER, q, stanza_error


@pytest.mark.parametrize("itype", ["get", "set"])
def test_unknown_namespace_to_server_is_service_unavailable(itype, cluster, users, client, arun):
    jid = users.add("iq")

    async def body():
        c = await client(jid).login()
        r = await c.iq(itype, "<query xmlns='urn:example:nobody-knows-this'/>", to=cluster.domain)
        assert r.tag == q(NS_CLIENT, "iq") and r.get("type") == "error", r.attrib
        assert r.get("from") == cluster.domain, r.attrib
        assert stanza_error(r) == ("cancel", "service-unavailable")

    arun(body())


def test_unknown_namespace_to_own_account_is_service_unavailable(cluster, users, client, arun):
    jid = users.add("iq")

    async def body():
        c = await client(jid).login()
        r = await c.iq("get", "<query xmlns='urn:example:nobody-knows-this'/>", to=jid)
        assert r.get("type") == "error" and stanza_error(r) == ("cancel", "service-unavailable")

    arun(body())


def test_ping_server(cluster, users, client, arun):
    jid = users.add("ping")

    async def body():
        c = await client(jid).login()
        r = await c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=cluster.domain)
        assert r.get("type") == "result", r.attrib
        assert r.get("from") == cluster.domain
        assert r.get("to") == c.jid
        assert len(r) == 0, "ping result with a payload"

    arun(body())


def test_empty_roster(cluster, users, client, arun):
    jid = users.add("roster")

    async def body():
        c = await client(jid).login()
        r = await c.iq("get", f"<query xmlns='{NS_ROSTER}'/>")
        assert r.get("type") == "result", r.attrib
        query = r.find(q(NS_ROSTER, "query"))
        assert query is not None, "roster result without <query xmlns='jabber:iq:roster'/>"
        assert len(query) == 0, "roster of a new account is not empty"

    arun(body())


def test_iq_to_full_jid_is_delivered(cluster, users, client, arun):
    a_jid, b_jid = users.add("iqa"), users.add("iqb")

    async def body():
        a = await client(a_jid).login()
        b = await client(b_jid).login()
        # b answers pings itself (slixmpp's xep_0199 is not loaded: answer by hand).
        got = []

        def on_iq(iq):
            got.append(iq)
            iq.reply().send()
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        b.xmpp.register_handler(Callback("ping in", MatchXPath("{jabber:client}iq/{urn:xmpp:ping}ping"),
                                         on_iq))
        r = await a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=b.jid)
        assert r.get("type") == "result" and r.get("from") == b.jid, r.attrib
        assert len(got) == 1 and str(got[0]["from"]) == a.jid

    arun(body())
