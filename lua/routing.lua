-- Elastic SBC routing (Kamailio 5.6 KEMI, Lua 5.1 via app_lua).
--
-- Loaded by kamailio/kamailio.cfg (`cfgengine "lua"`). Kamailio calls:
--   ksr_request_route()   for every SIP request
--   ksr_failure_route()   armed per INVITE transaction with KSR.tm.t_on_failure
--   ksr_xhttp_event()     for every HTTP request (xhttp event_callback): JSON-RPC
--
-- Every Kamailio worker process has its own Lua state, so module-level variables are
-- per process. Anything shared between workers lives in Kamailio (htable, dispatcher).
-- Never call Lua's os.exit(): it would kill the worker. Use KSR.x.exit().
--
-- Configuration: environment variables, read once when the script is loaded. The
-- control plane reads the same names, so keep them exactly.
--
-- | variable              | default       | meaning                                          |
-- |-----------------------|---------------|--------------------------------------------------|
-- | SBC_DS_SET_GENERAL    | 1             | dispatcher set for ordinary calls                |
-- | SBC_DS_ALG_GENERAL    | 4             | algorithm for it (4 = round robin)               |
-- | SBC_DS_SET_ROOMS      | 2             | dispatcher set for conference rooms              |
-- | SBC_DS_ALG_ROOMS      | 2             | 2 = hash over To URI, 3 = hash over R-URI        |
-- | SBC_DS_SET_CASCADE    | 3             | set for cascaded (sharded) rooms; always alg 7   |
-- | SBC_ROOM_PATTERN      | ^3[0-9]{3}$   | PCRE matched against the dialed user (R-URI user)|
-- | SBC_DS_MAX_ATTEMPTS   | 3             | destinations tried per call (1 + failovers);     |
-- |                       |               | 0 = every destination of the set                 |
--
-- SBC_ROOM_PATTERN is a PCRE regular expression (Kamailio regex module, pcre_match),
-- matched against the whole dialed user string; anchor it yourself (^...$). The subset
-- used in practice (^ $ [0-9] {n} | ( ) ? * +) means the same in JavaScript RegExp, which
-- is what the control plane uses. Matching is case sensitive.
--
-- Hashing: kamailio.cfg sets dispatcher `flags` = 3, so alg 2 and alg 3 hash only the
-- user part of the To / R-URI (the room number), and failover lists are kept.

local ALG_HASH_PVAR = 7

local function env_int(name, default, min, max)
	local raw = os.getenv(name)
	if raw == nil or raw == "" then
		return default
	end
	local n = tonumber(raw)
	if n == nil or n ~= math.floor(n) or n < min or n > max then
		error(string.format("routing.lua: %s=%q must be a whole number between %d and %d", name, raw, min, max))
	end
	return n
end

local function env_str(name, default)
	local raw = os.getenv(name)
	if raw == nil or raw == "" then
		return default
	end
	return raw
end

local CFG = {
	set_general = env_int("SBC_DS_SET_GENERAL", 1, 0, 2147483647),
	alg_general = env_int("SBC_DS_ALG_GENERAL", 4, 0, 13),
	set_rooms = env_int("SBC_DS_SET_ROOMS", 2, 0, 2147483647),
	alg_rooms = env_int("SBC_DS_ALG_ROOMS", 2, 0, 13),
	set_cascade = env_int("SBC_DS_SET_CASCADE", 3, 0, 2147483647),
	room_pattern = env_str("SBC_ROOM_PATTERN", "^3[0-9]{3}$"),
	max_attempts = env_int("SBC_DS_MAX_ATTEMPTS", 3, 0, 1000),
}

-- Name of the listen socket that carries JSON-RPC over HTTP (kamailio.cfg).
local RPC_SOCKET_NAME = "rpc"

local function pv(name)
	local v = KSR.pv.get(name)
	if v == nil then
		return ""
	end
	return tostring(v)
end

-- Deterministic string hash (djb2, 32 bit) used to pick a cascade shard. Plain Lua 5.1
-- numbers are doubles; the modulo keeps every intermediate value exact.
local function djb2(s)
	local h = 5381
	for i = 1, #s do
		h = (h * 33 + string.byte(s, i)) % 4294967296
	end
	return h
end

local function is_room(user)
	if user == "" then
		return false
	end
	return KSR.regex.pcre_match(user, CFG.room_pattern) > 0
end

-- Number of shards for a room listed in htable `cascade` (set by an operator over RPC, see
-- kamailio.cfg; the control plane does not write it), or nil. The value may have been
-- stored as an integer (htable.seti) or a string (htable.sets).
local function cascade_shards(room)
	local v = KSR.htable.sht_get("cascade", room)
	if v == nil then
		return nil
	end
	local n = tonumber(v)
	if n == nil or n < 1 or n ~= math.floor(n) then
		KSR.warn(string.format("sbc-route: ignoring htable cascade[%s]=%s: not a positive integer\n", room, tostring(v)))
		return nil
	end
	return n
end

local function select_dst(set, alg)
	if CFG.max_attempts > 0 then
		return KSR.dispatcher.ds_select_dst_limit(set, alg, CFG.max_attempts)
	end
	return KSR.dispatcher.ds_select_dst(set, alg)
end

-- Relay the current request statefully; on failure answer with tm's/sl's error reply.
local function relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- In-dialog requests (To-tag present): follow the route set recorded at call set-up.
-- An ACK goes on only for a transaction that went through this proxy (an ACK to a
-- negative reply is hop-by-hop; tm absorbs it); any other ACK is dropped.
local function relay_ack_or_drop()
	if KSR.tm.t_check_trans() > 0 then
		relay()
	end
	KSR.x.exit()
end

local function route_in_dialog()
	if KSR.rr.loose_route() > 0 then
		if KSR.is_BYE() then
			KSR.info(string.format("sbc-indialog call_id=%s method=BYE du=%s ruri=%s\n",
				pv("$ci"), pv("$du"), pv("$ru")))
		end
		relay()
	end
	if KSR.is_ACK() then
		relay_ack_or_drop()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- Initial INVITE: choose the dispatcher set and algorithm, then relay.
local function route_initial_invite()
	local callid = pv("$ci")
	local ruser = pv("$rU")
	local kind, set, alg, key = "general", CFG.set_general, CFG.alg_general, ""

	if is_room(ruser) then
		local shards = cascade_shards(ruser)
		if shards ~= nil then
			-- Big room split across several FreeSWITCH nodes. Each participant is put in a
			-- shard chosen from the caller (From user; Call-ID for anonymous callers) so a
			-- caller who redials lands on the same shard; alg 7 hashes "<room>-<shard>".
			local who = pv("$fU")
			if who == "" or string.lower(who) == "anonymous" then
				who = callid
			end
			local shard = djb2(who) % shards
			key = ruser .. "-" .. shard
			KSR.pv.sets("$var(dskey)", key)
			kind, set, alg = "cascade", CFG.set_cascade, ALG_HASH_PVAR
		else
			kind, set, alg = "room", CFG.set_rooms, CFG.alg_rooms
		end
	end

	local selected = select_dst(set, alg) > 0
	-- Never relay a new call to this Kamailio itself: a destination at one of its own
	-- addresses (a forged or mistaken node) would loop the call until Max-Forwards runs
	-- out. The control plane refuses such nodes; this guards the table too. The
	-- destination is marked inactive (until the next reload) and the next one is tried.
	while selected and KSR.is_myself_duri() do
		KSR.err(string.format("sbc-route call_id=%s kind=%s set=%d dst=%s is this Kamailio: skipped (loop)\n",
			callid, kind, set, pv("$du")))
		KSR.dispatcher.ds_mark_dst_state("i")
		selected = KSR.dispatcher.ds_next_dst() > 0
	end

	if not selected then
		KSR.warn(string.format("sbc-route call_id=%s kind=%s ruser=%s set=%d alg=%d key=%s dst=none result=503\n",
			callid, kind, ruser, set, alg, key))
		KSR.sl.sl_send_reply(503, "Service Unavailable")
		KSR.x.exit()
	end

	KSR.info(string.format("sbc-route call_id=%s kind=%s ruser=%s set=%d alg=%d key=%s dst=%s\n",
		callid, kind, ruser, set, alg, key, pv("$du")))

	KSR.tm.t_on_failure("ksr_failure_route")
	relay()
end

-- SIP request routing (equivalent of request_route {}).
function ksr_request_route()
	-- SIP never belongs on the management socket.
	if pv("$Rn") == RPC_SOCKET_NAME then
		KSR.x.drop()
	end

	KSR.set_reply_no_connect()
	KSR.force_rport()

	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end

	if KSR.sanity.sanity_check_defaults() < 0 then
		KSR.err(string.format("sbc: malformed SIP message from %s:%s\n", pv("$si"), pv("$sp")))
		KSR.x.exit()
	end

	-- CANCEL: relay when it matches an INVITE transaction (tm cancels the branches).
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			relay()
		end
		KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
		KSR.x.exit()
	end

	-- Retransmissions of requests that already have a transaction are absorbed by tm.
	if not KSR.is_ACK() then
		if KSR.tmx.t_precheck_trans() > 0 then
			KSR.tm.t_check_trans()
			KSR.x.exit()
		end
		if KSR.tm.t_check_trans() == 0 then
			KSR.x.exit()
		end
	end

	if KSR.siputils.has_totag() > 0 then
		route_in_dialog()
	end

	-- Initial requests from here on.

	-- Keepalives / health checks addressed to Kamailio itself.
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(200, "OK")
		KSR.x.exit()
	end

	-- ACK without To-tag: only one for a transaction of ours goes on.
	if KSR.is_ACK() then
		relay_ack_or_drop()
	end

	-- Preloaded Route headers are not honoured: every new call goes to the pool.
	KSR.hdr.remove("Route")

	if KSR.is_INVITE() then
		KSR.rr.record_route()
		route_initial_invite()
	end

	-- The pool only takes calls.
	KSR.sl.sl_send_reply(405, "Method Not Allowed")
	KSR.x.exit()
end

-- failure_route for initial INVITEs.
--
-- Failover happens when the node is unusable for this call: it answered 5xx or 408, or it
-- did not answer at all before fr_timer. A branch that got a provisional reply and then
-- ran into fr_inv_timer is a live node with a slow callee: no failover. 4xx/6xx are the
-- caller's answer and go upstream unchanged.
--
-- Marking: a node that did not answer at all is marked inactive (ds_mark_dst "i") so the
-- following calls skip it instead of each waiting fr_timer. Probing is off
-- (ds_ping_interval 0); dispatcher.list shows the mark as FLAGS "IX". The control plane
-- reads it as a sensor: it keeps the mark for SBC_KAMAILIO_MARK_HOLD_MS (no resync reloads
-- it away), then sets the destination active again; a reload membership needs clears it too.
-- A node that answered 5xx is alive (e.g. FreeSWITCH at max-sessions or refusing this one
-- call): only this call fails over; the node is not marked, because with probing off a
-- mark would remove a working node from every set until the next reload.
function ksr_failure_route()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end

	local callid = pv("$ci")
	local failed = pv("$du")
	local reason
	if KSR.tm.t_branch_timeout() > 0 then
		if KSR.tm.t_branch_replied() > 0 then
			-- provisional reply received, then fr_inv_timer: the node is alive
			return 1
		end
		reason = "timeout"
		KSR.dispatcher.ds_mark_dst_state("i")
	elseif KSR.tm.t_check_status("^(5[0-9][0-9]|408)$") > 0 then
		reason = "status-" .. pv("$T_reply_code")
	else
		return 1
	end

	if KSR.dispatcher.ds_next_dst() < 0 then
		KSR.warn(string.format("sbc-failover call_id=%s failed_dst=%s reason=%s next=none\n",
			callid, failed, reason))
		-- nothing left to try: the failure (or tm's 408) goes upstream
		return 1
	end

	KSR.info(string.format("sbc-failover call_id=%s failed_dst=%s reason=%s next=%s\n",
		callid, failed, reason, pv("$du")))
	KSR.tm.t_on_failure("ksr_failure_route")
	relay()
end

-- HTTP requests (xhttp event_callback): JSON-RPC on the management socket only.
function ksr_xhttp_event(_evname)
	if pv("$Rn") ~= RPC_SOCKET_NAME then
		KSR.xhttp.xhttp_reply(403, "Forbidden", "text/plain", "JSON-RPC is only served on the management socket\n")
		return 1
	end
	if string.sub(pv("$hu"), 1, 4) == "/RPC" then
		KSR.jsonrpcs.dispatch()
		return 1
	end
	KSR.xhttp.xhttp_reply(404, "Not Found", "text/plain", "use /RPC\n")
	return 1
end
