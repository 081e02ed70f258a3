"""Changes made on one node of a cluster take effect on the others at once:
Admin's bans, deletions and renames, and removed memberships (leaving,
removal by the creator). The actor is on node0, the user it affects on
node1. In SyncAtOnce the nodes never sweep (SweepInterval of an hour), so
whatever node1 does, it does on node0's notice; in NoticesDropped node0
publishes no notice of a change and node1 applies removals at its sweep.
(cluster.py starts PostgreSQL, Redis, the nodes and HAProxy.)"""
import time

import cluster
import test_cluster
from adminlib import ADMIN_PASSWORD, admin_cmd
from harness import SLOW, main, uname, wait_for
from test_cluster import ClusterTest, chats, enter_when_known

PG = None
NO_SWEEP = ["--sweep-interval", "3600000"]


def setUpModule():
    global PG
    PG = cluster.Postgres()
    try:
        PG.start()
    except BaseException:
        PG.cleanup()
        raise
    test_cluster.PG = PG  # ClusterTest starts its clusters on it


def tearDownModule():
    if PG is not None:
        PG.cleanup()


class SyncBase(ClusterTest):
    nodes = 2

    def admin_on(self, i):
        c = self.cl.nodes[i].connect()
        c.hello()
        r = c.login("Admin", ADMIN_PASSWORD)
        self.assertTrue(r.get("success"), r)
        self.conns.append(c)
        return c

    def request(self, c, mtype, **fields):
        c.send(mtype + "_request", **fields)
        return c.recv_type((mtype + "_response", "error_message"))

    def members(self, c, gid):
        c.send("list_users_request", list_type="current_chat", chat_group_id=gid)
        return sorted(u["username"] for u in c.recv_type("list_users_response")["users"])

    def group_of(self, creator, members, known_on):
        """A group made by creator with members, known on the connections
        known_on (each enters it once its node knows it, and stays in it);
        its name and id."""
        name = uname("g")
        creator.send("create_chat_request", chat_name=name,
                     member_usernames=[m.username for m in members])
        r = creator.recv_type("create_chat_response")
        self.assertTrue(r.get("success"), r)
        for c in known_on:
            r, hist = enter_when_known(c, name)
            self.assertIsNotNone(hist, r)
        return name, r["chat_group_id"]

    def refused(self, c, content, gid, code):
        c.chat(content, group_id=gid)
        e = c.recv_type("error_message")
        self.assertEqual(e["error_code"], code, e)
        self.assertTrue(e["error_message"])


class SyncAtOnce(SyncBase):
    node_args = {0: NO_SWEEP, 1: NO_SWEEP}

    def test_a_ban_on_one_node_silences_the_user_on_another_until_freed(self):
        adm, peer = self.admin_on(0), self.on(0, protocol2=True)
        victim = self.on(1, protocol2=True)
        pub = victim.group["id"]
        r = admin_cmd(adm, "ban", "-u", target_name=victim.username)
        self.assertTrue(r["success"], r)
        n = victim.recv_type("admin_operation_notification")
        self.assertEqual((n["operation"], n["target_type"], n["target_name"]),
                         ("ban_-u", "user", victim.username))
        self.refused(victim, "may I?", pub, 1005)
        # still reads, and nothing of it reached the others
        peer.chat("you can read this")
        self.assertEqual(chats(victim, 1, pub)[0][1], "you can read this")
        self.assertEqual(chats(peer, 1, pub)[0][1], "you can read this")
        self.assertTrue(peer.no_message(0.3, types=("chat_message",)))

        r = admin_cmd(adm, "free", "-u", target_name=victim.username)
        self.assertTrue(r["success"], r)
        self.assertEqual(victim.recv_type("admin_operation_notification")["operation"], "free_-u")
        victim.chat("free again", group_id=pub)
        self.assertEqual(chats(peer, 1, pub)[0][1:2], ("free again",))
        self.assertEqual(chats(victim, 1, pub)[0][1:2], ("free again",))

    def test_a_deleted_user_is_cut_off_on_the_other_node_and_leaves_its_groups(self):
        adm = self.admin_on(0)
        victim, stay = self.on(1, protocol2=True), self.on(1, protocol2=True)
        name, gid = self.group_of(stay, [victim], [stay, victim])
        self.assertEqual(self.members(stay, gid), sorted([stay.username, victim.username]))
        r = admin_cmd(adm, "del", "-u", target_name=victim.username)
        self.assertTrue(r["success"], r)
        m = victim.recv_type("system_message")
        self.assertTrue(m.get("content"), m)
        self.assertTrue(victim.expect_closed(timeout=10 * SLOW))
        self.assertIn("account deleted by Admin on another node", self.cl.nodes[1].log_text())
        self.assertEqual(stay.recv_type("admin_operation_notification")["operation"], "del_-u")
        self.assertEqual(self.members(stay, gid), [stay.username])
        # the account is gone everywhere; the others chat on
        c = self.cl.nodes[1].connect()
        self.conns.append(c)
        self.assertFalse(c.login(victim.username).get("success"))
        stay.chat("still here", group_id=gid)
        self.assertEqual(chats(stay, 1, gid)[0][1], "still here")

    def test_a_deleted_group_sends_its_members_on_the_other_node_to_public(self):
        adm, listener = self.admin_on(0), self.on(0, protocol2=True)
        inside = self.on(1, protocol2=True)
        name, gid = self.group_of(inside, [], [inside])
        r, hist = enter_when_known(inside, name)
        self.assertIsNotNone(hist, r)
        r = admin_cmd(adm, "del", "-g", target_id=gid)
        self.assertTrue(r["success"], r)
        m = inside.recv_type("system_message")
        self.assertIn(name, m["content"])
        self.assertIn("public", m["content"])
        # the next message without a group goes to public, on both nodes
        inside.chat("back in public")
        got = listener.recv_chat("back in public")
        self.assertEqual(got["chat_group_name"], "public")
        r = self.request(inside, "enter_chat", chat_name=name)
        self.assertEqual(r["message_type"], "error_message", r)
        self.refused(inside, "into the void", gid, 1004)

    def test_a_renamed_user_logs_in_again_on_the_other_node_under_the_new_name(self):
        adm, listener = self.admin_on(0), self.on(0, protocol2=True)
        victim = self.on(1, protocol2=True)
        old, new = victim.username, uname("new")
        r = admin_cmd(adm, "modify", "-u", target_name=old, new_value="username " + new)
        self.assertTrue(r["success"], r)
        m = victim.recv_type("system_message")
        self.assertIn(new, m["content"])
        self.assertTrue(victim.expect_closed(timeout=10 * SLOW))
        c = self.cl.nodes[1].connect()
        self.conns.append(c)
        c.hello()
        self.assertFalse(c.login(old).get("success"))
        self.assertTrue(c.login(new).get("success"))
        c.send("user_info_request")
        self.assertEqual(c.recv_type("user_info_response")["user_info"]["username"], new)
        c.send("list_users_request", list_type="all")
        names = [u["username"] for u in c.recv_type("list_users_response")["users"]]
        self.assertIn(new, names)
        self.assertNotIn(old, names)
        c.chat("my new name", group_id=c.group["id"])
        self.assertEqual(listener.recv_chat("my new name")["sender_username"], new)

    def test_a_new_password_ends_the_session_on_the_other_node(self):
        adm, victim = self.admin_on(0), self.on(1, protocol2=True)
        r = admin_cmd(adm, "modify", "-u", target_name=victim.username,
                      new_value="password fresh12345")
        self.assertTrue(r["success"], r)
        self.assertTrue(victim.recv_type("system_message").get("content"))
        self.assertTrue(victim.expect_closed(timeout=10 * SLOW))
        c = self.cl.nodes[1].connect()
        self.conns.append(c)
        self.assertFalse(c.login(victim.username).get("success"))
        self.assertTrue(c.login(victim.username, "fresh12345").get("success"))

    def test_a_renamed_group_shows_its_new_name_on_the_other_node(self):
        adm, member = self.admin_on(0), self.on(1, protocol2=True)
        old, gid = self.group_of(member, [], [member])
        new = uname("renamed")
        r = admin_cmd(adm, "modify", "-g", target_id=gid, new_value="name " + new)
        self.assertTrue(r["success"], r)
        self.assertEqual(member.recv_type("admin_operation_notification")["operation"],
                         "modify_-g")
        member.chat("under the new name", group_id=gid)
        self.assertEqual(member.recv_chat("under the new name")["chat_group_name"], new)
        r, hist, _ = member.enter_chat(new)
        self.assertIsNotNone(hist, r)
        r, hist, _ = member.enter_chat(old)
        self.assertIsNone(hist, r)

    def test_a_member_who_left_on_one_node_is_no_member_on_the_other(self):
        leaver, owner = self.on(0, protocol2=True), self.on(1, protocol2=True)
        name, gid = self.group_of(owner, [leaver], [owner, leaver])
        r = self.request(leaver, "leave_chat", chat_group_id=gid)
        self.assertIs(r.get("success"), True, r)
        # nobody on node1 is told: its list of members shows it
        self.assertTrue(wait_for(lambda: self.members(owner, gid) == [owner.username],
                                 timeout=10 * SLOW), self.members(owner, gid))
        # logged in again on node1, it cannot send into the group there
        again = self.on(1, leaver.username, protocol2=True)
        self.refused(again, "am I still in?", gid, 1005)
        owner.chat("members only", group_id=gid)
        self.assertEqual(chats(owner, 1, gid)[0][1], "members only")
        self.assertTrue(again.no_message(0.5, types=("chat_message",)))

    def test_a_member_removed_on_one_node_is_told_and_shut_out_on_the_other(self):
        owner, victim = self.on(0, protocol2=True), self.on(1, protocol2=True)
        stay = self.on(1, protocol2=True)
        name, gid = self.group_of(owner, [victim, stay], [owner, victim, stay])
        r, hist = enter_when_known(victim, name)
        self.assertIsNotNone(hist, r)
        r = self.request(owner, "remove_member", username=victim.username, chat_group_id=gid)
        self.assertIs(r.get("success"), True, r)
        n = victim.recv_type("member_removed")
        self.assertEqual((n["chat_group_id"], n["by_username"]), (gid, owner.username))
        self.assertEqual(n["current_chat_group"]["name"], "public")
        self.assertEqual(self.members(stay, gid), sorted([owner.username, stay.username]))
        self.refused(victim, "let me back", gid, 1005)
        owner.chat("after the kick", group_id=gid)
        self.assertEqual(chats(stay, 1, gid)[0][1], "after the kick")
        self.assertTrue(victim.no_message(0.5, types=("chat_message",)))
        self.assertTrue(stay.no_message(0.3, types=("member_removed",)))


class NoticesDropped(SyncBase):
    """node0 publishes no notice of a change: node1 learns of it at its
    sweep, removals included."""
    node_args = {0: ["--debug-drop-notices", "1"]}

    def test_a_removal_whose_notice_was_lost_is_applied_by_the_sweep(self):
        owner, victim = self.on(0, protocol2=True), self.on(1, protocol2=True)
        stay = self.on(1, protocol2=True)
        name, gid = self.group_of(owner, [victim, stay], [owner, victim, stay])
        r = self.request(owner, "remove_member", username=victim.username, chat_group_id=gid)
        self.assertIs(r.get("success"), True, r)
        want = sorted([owner.username, stay.username])
        self.assertTrue(wait_for(lambda: self.members(stay, gid) == want, timeout=20 * SLOW),
                        self.members(stay, gid))
        self.refused(victim, "let me back", gid, 1005)
        owner.chat("after the kick", group_id=gid)
        self.assertEqual(chats(stay, 1, gid)[0][1], "after the kick")
        self.assertTrue(victim.no_message(0.5, types=("chat_message",)))
        self.assertIn("dropping a notice of a change", self.cl.nodes[0].log_text())
        self.assertIn("the store no longer has 1 membership(s)", self.cl.nodes[1].log_text())

    def test_an_account_deleted_without_a_notice_is_cut_off_at_the_sweep(self):
        adm = self.admin_on(0)
        victim = self.on(1, protocol2=True)
        r = admin_cmd(adm, "del", "-u", target_name=victim.username)
        self.assertTrue(r["success"], r)
        m = victim.recv_type("system_message", timeout=20 * SLOW)
        self.assertTrue(m.get("content"), m)
        self.assertTrue(victim.expect_closed(timeout=10 * SLOW))
        self.assertIn("account deleted (seen at the sweep)", self.cl.nodes[1].log_text())


class QuietSweep(SyncBase):
    """Both nodes sweep every 50 ms; while nothing changes, a sweep reads
    only the store's count of changes, not every group, member and
    account: PostgreSQL's own statistics show the memberships read."""
    node_args = {0: ["--sweep-interval", "50"], 1: ["--sweep-interval", "50"]}

    def scans(self):
        db = self.cl.conninfo.split("dbname=")[1]
        rows = PG.psql("SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                       "WHERE relname = 'members'", db=db)
        return int(rows[0][0])

    def settled(self):
        """The count of reads of members stays put for 1.5 s (statistics
        reach PostgreSQL's views within about a second)."""
        before = self.scans()
        time.sleep(1.5)
        return self.scans() == before

    def test_a_sweep_reads_everything_only_after_a_change(self):
        a, b = self.on(0, protocol2=True), self.on(1, protocol2=True)
        self.assertTrue(wait_for(self.settled, timeout=30 * SLOW), "members read on every sweep")
        # a change: both nodes read again, and the statistics show it
        before = self.scans()
        name, gid = self.group_of(a, [b], [a, b])
        self.assertTrue(wait_for(lambda: self.scans() > before, timeout=10 * SLOW))
        self.assertTrue(wait_for(self.settled, timeout=30 * SLOW), "members read on every sweep")
        self.assertEqual(self.members(b, gid), sorted([a.username, b.username]))


if __name__ == "__main__":
    main()
