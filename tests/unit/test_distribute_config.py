"""TF_CONFIG is checked before anything waits on it (issue 25: a peer that never starts, or a host
that does not resolve, hung `train --strategy multiworker` with no output)."""

import json

import pytest

from edgeseg.errors import UsageError
from edgeseg.training import distribute as d


def cfg(*hosts, index=0):
    return {"TF_CONFIG": json.dumps({"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": index}})}


def test_a_host_that_does_not_resolve_is_a_usage_error_naming_it():
    env = cfg("127.0.0.1:12345", "nosuchhost.invalid:12345")
    d.cluster_role(env)  # the role itself needs no name service
    for check in (d.resolve_cluster, lambda e: d.role_for("multiworker", e)):
        with pytest.raises(UsageError, match=r"address 'nosuchhost\.invalid:12345': the host 'nosuchhost\.invalid'"):
            check(env)


@pytest.mark.parametrize("bad", ["host", "host:", ":123", "host:0", "host:70000", "host:１２", "host:12a"])
def test_addresses_need_a_host_and_a_port(bad):
    with pytest.raises(UsageError, match='must be a list of "host:port" strings'):
        d.cluster_role(cfg("127.0.0.1:12345", bad))


def test_a_good_cluster_gives_the_role():
    role = d.cluster_role(cfg("127.0.0.1:12345", "localhost:12346", index=1))
    assert (role.task_type, role.index, role.workers, role.is_chief) == ("worker", 1, 2, False)


def test_the_peer_timeout_bounds_every_collective_and_is_checked():
    assert d.peer_timeout_s({}) == d.PEER_TIMEOUT_S
    assert d.peer_timeout_s({"EDGESEG_PEER_TIMEOUT_S": "30"}) == 30.0
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(UsageError, match="EDGESEG_PEER_TIMEOUT_S"):
            d.peer_timeout_s({"EDGESEG_PEER_TIMEOUT_S": bad})
    made = {}

    class FakeTF:
        class distribute:
            class experimental:
                @staticmethod
                def CommunicationOptions(**kw):
                    return kw

            @staticmethod
            def MultiWorkerMirroredStrategy(**kw):
                made.update(kw)
                return "strategy"

    assert d._multiworker(FakeTF) == "strategy"
    assert made == {"communication_options": {"timeout_seconds": d.PEER_TIMEOUT_S}}
