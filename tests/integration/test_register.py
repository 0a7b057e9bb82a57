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


NS_XDATA = "jabber:x:data"
NS_FEAT_REG = "http://jabber.org/features/iq-register"


@pytest.fixture(scope="module")
def open_registration(tmp_path_factory):
    from conftest import running_cluster
    with running_cluster(tmp_path_factory.mktemp("register"),
                         c2s_config={"register": "true", "register_per_ip": 3}) as c:
        yield c


def raw_tls(cluster):
    """A raw stream after STARTTLS, with the features offered then."""
    from clients import RawStream
    raw = RawStream(cluster.port)
    raw.open()
    raw.features()
    return raw, raw.starttls(cluster.cert)


def raw_iq(raw, inner, itype, iid):
    raw.send(f"<iq type='{itype}' id='{iid}'><query xmlns='{NS_REG}'>{inner}</query></iq>")
    r = raw.next(timeout=10)
    assert r.get("id") == iid, xs(r)
    return r


def test_registration_before_login(open_registration):
    cl = open_registration
    name = f"newbie{id(cl) % 100000}"
    raw, feats = raw_tls(cl)
    try:
        assert feats.find(q(NS_FEAT_REG, "register")) is not None, "offered after STARTTLS"
        r = raw_iq(raw, "", "get", "g1")
        qn = r.find(q(NS_REG, "query"))
        assert qn.find(q(NS_REG, "username")) is not None and qn.find(q(NS_REG, "password")) is not None
        form = qn.find(q(NS_XDATA, "x"))
        assert form is not None and form.get("type") == "form"
        assert sorted(f.get("var") for f in form.findall(q(NS_XDATA, "field"))) == ["FORM_TYPE", "password", "username"]
        r = raw_iq(raw, "<username>x</username><password/>", "set", "s0")
        assert stanza_error(r) == ("modify", "not-acceptable"), xs(r)
        r = raw_iq(raw, f"<username>{name}</username><password>pa55 word</password>", "set", "s1")
        assert r.get("type") == "result", xs(r)
        r = raw_iq(raw, f"<username>{name}2</username><password>x</password>", "set", "s2")
        assert stanza_error(r) == ("modify", "not-acceptable"), "one registration per connection"
    finally:
        raw.close()
    # the new account logs in; the same name again is a conflict; a form works too
    from clients import RawStream
    login = RawStream(cl.port)
    try:
        assert login.login(cl.cert, name, "pa55 word").startswith(f"{name}@")
    finally:
        login.close()
    raw, _ = raw_tls(cl)
    try:
        r = raw_iq(raw, f"<username>{name}</username><password>other</password>", "set", "s3")
        assert stanza_error(r) == ("cancel", "conflict"), xs(r)
    finally:
        raw.close()
    raw, _ = raw_tls(cl)
    try:
        form = (f"<x xmlns='{NS_XDATA}' type='submit'><field var='FORM_TYPE'><value>{NS_REG}</value></field>"
                f"<field var='username'><value>{name}f</value></field>"
                "<field var='password'><value>formpass</value></field></x>")
        assert raw_iq(raw, form, "set", "s4").get("type") == "result"
    finally:
        raw.close()
    # register_per_ip: 3 attempts per hour from one address, counted by each
    # c2s process; 3 were made above (the conflict counts), so at most
    # 3 * (c2s processes) - 3 more succeed before the refusal
    from cluster import C2S_NODES
    ok = 0
    for i in range(3 * len(C2S_NODES) + 1):
        raw, _ = raw_tls(cl)
        try:
            r = raw_iq(raw, f"<username>{name}n{i}</username><password>x</password>", "set", f"n{i}")
        finally:
            raw.close()
        if r.get("type") == "result":
            ok += 1
            continue
        assert stanza_error(r) == ("modify", "not-acceptable"), xs(r)
        break
    else:
        raise AssertionError("the per-IP limit never applied")
    assert ok <= 3 * len(C2S_NODES) - 3, ok


def test_registration_is_off_by_default(cluster):
    raw, feats = raw_tls(cluster)
    try:
        assert feats.find(q(NS_FEAT_REG, "register")) is None
        r = raw_iq(raw, "<username>nobody</username><password>x</password>", "set", "off1")
        assert stanza_error(r) == ("cancel", "service-unavailable"), xs(r)
    finally:
        raw.close()
