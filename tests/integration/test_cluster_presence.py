"""Presence across the nodes of a cluster (a user online on any node is
online everywhere, a dead node's users go offline) and the cluster-wide
counters of stats and user_info, on the cluster of cluster.py."""
import json
import socket
import time
import unittest

import cluster
import test_cluster
from harness import SLOW, main, uname, wait_for
from test_cluster import ClusterTest

# NodeTimeout of the nodes that are killed here: the smallest allowed, so
# that their users go offline soon; the bound a test waits is far larger
NODE_TIMEOUT = 3
BOUND = 30 * SLOW


def setUpModule():
    test_cluster.PG = cluster.Postgres()
    try:
        test_cluster.PG.start()
    except BaseException:
        test_cluster.PG.cleanup()
        raise


def tearDownModule():
    if test_cluster.PG is not None:
        test_cluster.PG.cleanup()


def status(conn, uid, online, timeout=BOUND):
    """The next user_status_update about uid; asserts it says online."""
    m = conn.recv_where(lambda m: m["message_type"] == "user_status_update" and
                        m.get("user_id") == uid, timeout=timeout,
                        what="user_status_update of user %d" % uid)
    assert m["is_online"] is online, m
    return m


def online_users(conn):
    """{username: is_online} of list_users "all" on conn."""
    conn.send("list_users_request", list_type="all")
    r = conn.recv_type("list_users_response")
    return {u["username"]: u["is_online"] for u in r["users"]}


def user_info(conn):
    conn.send("user_info_request")
    return conn.recv_type("user_info_response")


def stats(node):
    """Admin's stats on node (a harness.Server), on a connection of its own."""
    a = node.connect()
    try:
        r = a.login("Admin", "Admin12345")
        assert r.get("success"), r
        a.send("admin_command_request", command="stats", action="", target_id=None,
               target_name="", new_value="")
        return a.recv_type("admin_command_response")["data"]
    finally:
        a.close()


def redis_command(port, *args):
    """Send one command to the Redis on port; its first reply line."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(out)
        return s.recv(4096).split(b"\r\n")[0]


def updates_about(msgs, uid):
    return [m["is_online"] for m in msgs
            if m["message_type"] == "user_status_update" and m.get("user_id") == uid]


class PresenceAcrossNodes(ClusterTest):
    nodes = 2

    def test_a_user_on_another_node_comes_online_and_goes_offline(self):
        watcher = self.on(0, protocol2=True)
        name = uname("p")
        other = self.on(1, name)
        status(watcher, other.user_id, True)
        self.assertTrue(online_users(watcher)[name])
        other.send("logout_request")
        other.recv_type("system_message")
        status(watcher, other.user_id, False)
        self.assertFalse(online_users(watcher)[name])
        # and again, this time going by closing the connection
        again = self.on(1, name)
        status(watcher, again.user_id, True)
        self.assertTrue(online_users(watcher)[name])
        again.close()
        status(watcher, again.user_id, False)
        self.assertFalse(online_users(watcher)[name])

    def test_a_user_who_logs_in_on_another_node_stays_online(self):
        watchers = [self.on(i, protocol2=True) for i in range(2)]
        name = uname("t")
        first = self.on(0, name)
        for w in watchers:
            status(w, first.user_id, True)
        second = self.on(1, name)
        self.assertTrue(first.expect_closed())
        # node0 has said the user left it once its log says so; a user who
        # goes offline after that is heard of after anything about it
        wait_for(lambda: "logged in again on node node1" in self.cl.nodes[0].log_text(),
                 timeout=BOUND)
        marker = self.on(0)
        for w in watchers:
            status(w, marker.user_id, True)
        marker.send("logout_request")
        for w in watchers:
            status(w, marker.user_id, False)
            # nothing said the moving user went offline, or came online twice
            self.assertEqual(updates_about(w.backlog, first.user_id), [])
            self.assertTrue(online_users(w)[name])
        self.assertTrue(online_users(second)[name])
        second.send("user_info_request")
        self.assertTrue(second.recv_type("user_info_response")["user_info"]["is_online"])


class NodeDies(ClusterTest):
    """kill -9 of a node: its users go offline on the others within
    NodeTimeout and a third of it (waited for with a generous bound)."""
    nodes = 2
    node_args = {i: ["--node-timeout", str(NODE_TIMEOUT)] for i in range(2)}

    def test_the_users_of_a_killed_node_go_offline_elsewhere(self):
        watcher = self.on(0, protocol2=True)
        name = uname("d")
        doomed = self.on(1, name)
        status(watcher, doomed.user_id, True)
        online = user_info(watcher)["online_users_count"]
        self.assertEqual(online, 2)
        start = time.time()
        self.cl.nodes[1].kill()
        status(watcher, doomed.user_id, False)
        took = time.time() - start
        self.assertFalse(online_users(watcher)[name])
        self.assertEqual(user_info(watcher)["online_users_count"], 1)
        # reported, not asserted: how soon it came
        print("# offline %.1f s after the kill (NodeTimeout %d s)" % (took, NODE_TIMEOUT))


class BadNotices(ClusterTest):
    """Presence notices that are wrong or malformed: ignored with a warning,
    or made good by the next full read of every node's users."""
    nodes = 2
    node_args = {i: ["--node-timeout", str(NODE_TIMEOUT)] for i in range(2)}

    def publish(self, notice):
        self.assertTrue(redis_command(self.cl.redis.port, "PUBLISH", "chatroom:messages",
                                      json.dumps(notice)).startswith(b":"))

    def test_a_notice_of_a_node_that_keeps_no_users_is_undone(self):
        watcher = self.on(0, protocol2=True)
        name = uname("g")
        ghost = self.on(1, name)
        status(watcher, ghost.user_id, True)
        ghost.close()
        status(watcher, ghost.user_id, False)
        # a node "ghost" that says so but keeps no hash in Redis
        self.publish({"node": "ghost", "type": "presence", "user": ghost.user_id,
                      "name": name, "online": True})
        status(watcher, ghost.user_id, True)
        # the next full read finds it nowhere
        status(watcher, ghost.user_id, False)
        self.assertFalse(online_users(watcher)[name])

    def test_malformed_notices_are_ignored_and_logged(self):
        watcher = self.on(0, protocol2=True)
        self.publish({"node": "bad", "type": "presence"})
        self.publish({"node": "bad", "type": "presence", "user": "x", "name": "Admin",
                      "online": True})
        self.publish({"node": "bad", "type": "presence", "user": 0, "name": 3, "online": True})
        for n in self.cl.nodes:
            wait_for(lambda: n.log_text().count("ignoring a presence notice of node bad") == 3,
                     timeout=BOUND)
        # Admin (user 0) was not taken for online, and presence goes on
        self.assertFalse(online_users(watcher)["Admin"])
        other = self.on(1)
        status(watcher, other.user_id, True)
        self.assertEqual(updates_about(watcher.backlog, 0), [])


class RedisLost(ClusterTest):
    """Redis stops: presence on each node goes on; when it is back, the
    nodes learn who came and went meanwhile."""
    nodes = 2

    def test_presence_is_local_without_redis_and_resynced_when_it_is_back(self):
        far = self.on(0, protocol2=True)
        near = self.on(1, protocol2=True)
        status(far, near.user_id, True)
        leaving = self.on(0)
        status(near, leaving.user_id, True)
        status(far, leaving.user_id, True)
        self.cl.redis.kill()
        wait_for(lambda: all("lost Redis" in n.log_text() for n in self.cl.nodes), timeout=BOUND)
        name = uname("r")
        newcomer = self.on(1, name)
        status(near, newcomer.user_id, True)   # on its own node at once
        leaving.send("logout_request")
        status(far, leaving.user_id, False)    # on its own node at once
        self.cl.redis.start()
        status(far, newcomer.user_id, True)    # read from Redis when it is back
        status(near, leaving.user_id, False)
        self.assertTrue(online_users(far)[name])


class Counters(ClusterTest):
    """stats and user_info count users and groups of the whole cluster."""
    nodes = 3

    def test_counts_are_equal_on_every_node(self):
        users = [self.on(i) for i in range(3)]
        # every node has heard of every user (each also counts Admin, who
        # asks for stats below, on one node at a time)
        for i, n in enumerate(self.cl.nodes):
            wait_for(lambda: stats(n)["users_online"] == 4, timeout=BOUND)
            s = stats(n)
            self.assertEqual(s["users_online"], 4, s)
            self.assertEqual(s["node_users_online"], 2, s)   # its user and Admin
        for u in users:
            wait_for(lambda: user_info(u)["online_users_count"] == 3, timeout=BOUND)
        infos = [user_info(u) for u in users]
        for key in ("total_users_count", "online_users_count", "total_chats_count"):
            self.assertEqual(len(set(i[key] for i in infos)), 1, (key, infos))
        # a group created on one node counts on another at once: the total
        # is the record's, not what the node has heard of yet
        before = infos[2]["total_chats_count"]
        users[0].send("create_chat_request", chat_name=uname("g"), member_usernames=[])
        r = users[0].recv_type(("create_chat_response", "error_message"))
        self.assertTrue(r.get("success"), r)
        self.assertEqual(user_info(users[2])["total_chats_count"], before + 1)
        name = uname("n")
        reg = self.cl.nodes[0].connect()
        self.conns.append(reg)
        self.assertTrue(reg.register(name)["success"])
        self.assertEqual(user_info(users[1])["total_users_count"],
                         infos[1]["total_users_count"] + 1)


if __name__ == "__main__":
    main()
