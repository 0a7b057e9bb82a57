"""XEP-0077 for logged-in accounts: registration info, password change
and account cancellation."""

import asyncio

import pytest

from clients import LoginFailed, q, stanza_error, stream_error_condition
from conftest import PASSWORD
from rfc6121 import bare, next_stanza, send_presence, two_resources_contact_witness, xs

NS_REG = "jabber:iq:register"


async def reg(c, itype, inner=""):
    return await c.iq(itype, f"<query xmlns='{NS_REG}'>{inner}</query>")


def test_info_and_password_change(cluster, users, client, arun):
    jid = users.add("regpw")
    local = jid.split("@")[0]

    async def body():
        c = await client(jid).login()
        r = await reg(c, "get")
        qn = r.find(q(NS_REG, "query"))
        assert qn.find(q(NS_REG, "registered")) is not None and qn.findtext(q(NS_REG, "username")) == local
        for inner in (f"<username>{local}</username><password/>", f"<username>{local}</username>",
                      "<username>someone-else</username><password>x</password>",
                      f"<username>{local}</username><password>x</password><email>a@b</email>"):
            r = await reg(c, "set", inner)
            assert r.get("type") == "error" and stanza_error(r) == ("modify", "bad-request"), inner
        r = await reg(c, "set", f"<username>{local}</username><password>n3w pass!</password>")
        assert r.get("type") == "result", xs(r)
        await client(jid, password="n3w pass!").login()
        with pytest.raises(LoginFailed):
            await client(jid, password=PASSWORD).login()
        r = await reg(c, "set", f"<username>{jid}</username><password>{PASSWORD}</password>")
        assert r.get("type") == "result", "the bare JID names the account too"
        await client(jid).login()

    arun(body())


def test_cancel_account(cluster, users, client, arun):
    """<remove/>: answered, subscriptions undone toward the contact, every
    session closed with <not-authorized/>, and no login afterwards."""

    async def body():
        u, k, u1, u2, kc, wc = await two_resources_contact_witness(client, users, "rgc")
        r = await reg(u1, "set", "<remove/><username>x</username>")
        assert stanza_error(r) == ("modify", "bad-request")
        r = await reg(u1, "set", "<remove/>")
        assert r.get("type") == "result", xs(r)
        for c in (u1, u2):
            e = await asyncio.wait_for(c.stream_errors.get(), 10)
            assert stream_error_condition(e) == "not-authorized", xs(e)
            await c.wait_disconnected()
        seen = set()
        while not {"unsubscribe", "unsubscribed"} <= seen:
            x = await next_stanza(kc, what="the contact learns the subscriptions are gone")
            if x.tag == q("jabber:client", "presence") and bare(x.get("from") or "") == u:
                seen.add(x.get("type"))
        with pytest.raises(LoginFailed):
            await client(u).login()
        send_presence(kc, status="still here")

    arun(body())
