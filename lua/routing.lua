-- Elastic SBC routing (Kamailio 5.6 KEMI, Lua 5.1 via app_lua).
--
-- Loaded by kamailio/kamailio.cfg (`cfgengine "lua"`). Kamailio calls:
--   ksr_request_route()   for every SIP request
--   ksr_failure_route()   armed per INVITE transaction with KSR.tm.t_on_failure
--   ksr_xhttp_event()     for every HTTP request (xhttp event_callback): JSON-RPC
--   ksr_nats_event()      for every message on the pins subject (nats event_callback)
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
-- | SBC_ROOM_HEADER       | (unset)       | header carrying the room number (checked against |
-- |                       |               | SBC_ROOM_PATTERN); wins over the dialed user     |
-- | SBC_ROOM_SCOPE        | global        | global: key = number; domain: key =              |
-- |                       |               | <request domain>/<number> (tenants apart)        |
-- | SBC_ROOM_SHARD_KEY    | caller        | cascade shard from: caller (From user, Call-ID   |
-- |                       |               | if anonymous) or header:<Name>                   |
-- | SBC_KAMAILIO_ID       | kamailio      | this Kamailio's name in pin messages             |
-- | SBC_NATS_PINS_SUBSCRIPTION | (unset)  | <subject>:<queue group> (kamailio.cfg); set =    |
-- |                       |               | pins published to and heard from NATS; the group |
-- |                       |               | must be SBC_KAMAILIO_ID (one per Kamailio)       |
-- | SBC_NATS_ROUTE_SUBJECT | (unset)      | <prefix>.calls.kamailio.<SBC_KAMAILIO_ID>.route: |
-- |                       |               | each routing decision published there (call      |
-- |                       |               | correlation); unset = none published             |
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
	room_header = env_str("SBC_ROOM_HEADER", ""),
	room_scope = env_str("SBC_ROOM_SCOPE", "global"),
	shard_key = env_str("SBC_ROOM_SHARD_KEY", "caller"),
	kamailio_id = env_str("SBC_KAMAILIO_ID", "kamailio"),
	pins_subscription = env_str("SBC_NATS_PINS_SUBSCRIPTION", ""),
	route_subject = env_str("SBC_NATS_ROUTE_SUBJECT", ""),
}

if CFG.room_scope ~= "global" and CFG.room_scope ~= "domain" then
	error(string.format("routing.lua: SBC_ROOM_SCOPE=%q must be global or domain", CFG.room_scope))
end
if CFG.room_header ~= "" and not string.match(CFG.room_header, "^[A-Za-z][A-Za-z0-9-]*$") then
	error(string.format("routing.lua: SBC_ROOM_HEADER=%q is not a header name", CFG.room_header))
end
local SHARD_HEADER = string.match(CFG.shard_key, "^header:([A-Za-z][A-Za-z0-9-]*)$")
if CFG.shard_key ~= "caller" and SHARD_HEADER == nil then
	error(string.format("routing.lua: SBC_ROOM_SHARD_KEY=%q must be caller or header:<Name>", CFG.shard_key))
end
if not string.match(CFG.kamailio_id, "^[A-Za-z0-9][A-Za-z0-9._-]*$") or #CFG.kamailio_id > 64 then
	error(string.format("routing.lua: SBC_KAMAILIO_ID=%q: letters, digits, . _ - (at most 64)", CFG.kamailio_id))
end
-- Pins travel on NATS when kamailio.cfg subscribed (SBC_NATS_URL and this variable set).
-- The queue group must be this Kamailio's own: NATS gives each message to one member of
-- a group, and every Kamailio must hear every pin.
local PINS_SUBJECT = nil
if CFG.pins_subscription ~= "" then
	local subject, group = string.match(CFG.pins_subscription, "^([A-Za-z0-9_.-]+):([A-Za-z0-9_.-]+)$")
	if subject == nil then
		error(string.format("routing.lua: SBC_NATS_PINS_SUBSCRIPTION=%q must be <subject>:<queue group>", CFG.pins_subscription))
	end
	if group ~= CFG.kamailio_id then
		error(string.format("routing.lua: the queue group of SBC_NATS_PINS_SUBSCRIPTION (%s) must be SBC_KAMAILIO_ID (%s)", group, CFG.kamailio_id))
	end
	PINS_SUBJECT = subject
end

-- Routing decisions go to this Kamailio's own subject (NATS authorization may hold each
-- Kamailio to it), into the control plane's JetStream stream of call events.
local ROUTE_SUBJECT = nil
if CFG.route_subject ~= "" then
	-- The id is one subject token here (NATS authorization allows <prefix>.calls.kamailio.*.route).
	if not string.match(CFG.kamailio_id, "^[A-Za-z0-9_-]+$") then
		error(string.format("routing.lua: SBC_KAMAILIO_ID=%q must be letters, digits, _ and - only when SBC_NATS_ROUTE_SUBJECT is set", CFG.kamailio_id))
	end
	local tail = ".calls.kamailio." .. CFG.kamailio_id .. ".route"
	if string.sub(CFG.route_subject, -#tail) ~= tail or not string.match(CFG.route_subject, "^[A-Za-z0-9_-]+[A-Za-z0-9_.-]*$") then
		error(string.format("routing.lua: SBC_NATS_ROUTE_SUBJECT=%q must be <prefix>%s", CFG.route_subject, tail))
	end
	ROUTE_SUBJECT = CFG.route_subject
end

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

-- Room keys: the room number, or "<domain>/<number>" with SBC_ROOM_SCOPE=domain. The
-- same string names the conference on FreeSWITCH (X-SBC-Room) and keys the pins htable.
local ROOM_KEY_MAX = 128

-- The room a new INVITE asks for, or nil. A configured room header wins over the dialed user.
local function room_of_request()
	local number = nil
	if CFG.room_header ~= "" then
		local v = KSR.pv.get("$hdr(" .. CFG.room_header .. ")")
		if v ~= nil and v ~= "" and KSR.regex.pcre_match(v, CFG.room_pattern) > 0 then
			number = v
		end
	end
	if number == nil then
		local user = pv("$rU")
		if user ~= "" and KSR.regex.pcre_match(user, CFG.room_pattern) > 0 then
			number = user
		end
	end
	if number == nil or not string.match(number, "^[A-Za-z0-9._-]+$") then
		return nil
	end
	if CFG.room_scope == "domain" then
		local domain = string.lower(pv("$rd"))
		if not string.match(domain, "^[a-z0-9][a-z0-9.-]*$") then
			return nil
		end
		number = domain .. "/" .. number
	end
	if #number > ROOM_KEY_MAX then
		return nil
	end
	return number
end

-- Number of shards for a room listed in htable `cascade` (its policy, pushed by the control
-- plane; an operator may also set it over RPC), or nil. The value may have been stored as an
-- integer (htable.seti) or a string (htable.sets).
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

-- The stable participant key a cascade shard is derived from.
local function participant_key(callid)
	if SHARD_HEADER ~= nil then
		local v = KSR.pv.get("$hdr(" .. SHARD_HEADER .. ")")
		if v ~= nil and v ~= "" then
			return v
		end
	end
	local who = pv("$fU")
	if who == "" or string.lower(who) == "anonymous" then
		who = callid
	end
	return who
end

------------------------------------------------------------------------------------------
-- Pins: htable `pins`, key = room key (or "<room>-<shard>" for a cascade shard), value =
-- "<destination uri>;at=<ms>;by=<kamailio id or control>". A pin is made here, in this
-- Kamailio, before the first caller's INVITE is relayed, so the room's next caller finds
-- it without anyone else being involved; then it is published on NATS for the other
-- Kamailios and the control plane. The control plane holds the authoritative table and
-- rewrites every Kamailio's pins to it (htable.sets / htable.delete).

local URI_SHAPE = "^sip:[%w%.%-%[%]:]+$"

local function now_ms()
	local s = tonumber(KSR.pv.get("$TV(s)")) or 0
	local u = tonumber(KSR.pv.get("$TV(u)")) or 0
	return s * 1000 + math.floor(u / 1000)
end

-- uri, at, by of a pin value (at = 0 when absent), or nil for a malformed value.
local function parse_pin(value)
	if value == nil then
		return nil
	end
	local v = tostring(value)
	local uri = string.match(v, "^([^;]+)")
	if uri == nil or not string.match(uri, URI_SHAPE) then
		return nil
	end
	local at = tonumber(string.match(v, ";at=(%d+)") or "0") or 0
	local by = string.match(v, ";by=([%w%._%-]+)") or ""
	return uri, at, by
end

-- The node a pin points at, when it is still a dispatcher destination (any state: a
-- draining or cordoned node keeps its rooms). A node the control plane removed from the
-- table (gone) ends its pins here at once: its room starts afresh with this caller.
local function live_pin(key)
	local uri = parse_pin(KSR.htable.sht_get("pins", key))
	if uri == nil then
		return nil
	end
	if KSR.dispatcher.ds_is_from_list_uri(CFG.set_general, 2, uri) < 0 then
		KSR.info(string.format("sbc-pin key=%s dst=%s ended: no longer a destination\n", key, uri))
		KSR.htable.sht_rm("pins", key)
		return nil
	end
	return uri
end

local function json_str(s)
	-- Keys, URIs and ids are checked against shapes without quotes or backslashes.
	return '"' .. s .. '"'
end

-- What goes to NATS is queued (htable natsq, shared by every process) and the natsflush
-- timer process publishes the queue in batches (ksr_nats_flush, every 5 ms: kamailio.cfg,
-- rtimer). The SIP worker does no NATS work at all: see kamailio.cfg for what a publish
-- per pin cost.
local function queue_nats(key, item)
	KSR.htable.sht_sets("natsq", key, item)
	-- Set after the item: a flush that sees (and clears) the flag walks the queue after the
	-- item is in it; a flag set after the flush cleared it is seen by the next one.
	KSR.htable.sht_seti("natsq_flag", "queued", 1)
end

local function queue_pin(room, shard, key, uri, at)
	if PINS_SUBJECT == nil then
		return
	end
	if KSR.nats == nil then
		KSR.err("sbc-pin: SBC_NATS_PINS_SUBSCRIPTION is set but the nats module is not loaded (SBC_NATS_URL unset)\n")
		return
	end
	local entry = "{" .. '"room":' .. json_str(room) .. ',"key":' .. json_str(key)
	if shard ~= nil then
		entry = entry .. ',"shard":' .. shard
	end
	entry = entry .. ',"uri":' .. json_str(uri) .. ',"at":' .. string.format("%d", at) .. "}"
	queue_nats("p|" .. key .. ";" .. string.format("%d", at), entry)
end

-- The caller logs it (the route line says pin=made; a failover says it moved it): one log
-- line per call, as for any other call.
local function make_pin(room, shard, key, uri)
	local at = now_ms()
	KSR.htable.sht_sets("pins", key, uri .. ";at=" .. string.format("%d", at) .. ";by=" .. CFG.kamailio_id)
	queue_pin(room, shard, key, uri, at)
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

-- Headers only this system sets: a caller's copy is removed (X-SBC-Room) or refused.
local LINK_HEADER = "X-SBC-Cascade"
local TARGET_HEADER = "X-SBC-Target"
local ROOM_HEADER_OUT = "X-SBC-Room"

-- Routing decisions (call correlation). Every initial INVITE gets a decision id, stamped on
-- the relayed INVITE as X-SBC-Decision (FreeSWITCH shows it as variable_sip_h_X-SBC-Decision
-- on the leg), and each attempt (the first destination, every failover, a refusal) is
-- queued for ROUTE_SUBJECT: the control plane joins them with the FreeSWITCH legs.
local DECISION_HEADER = "X-SBC-Decision"
-- The store keeps 256 characters of a Call-ID; sending more would only be cut there.
local CALL_ID_MAX = 256
local decision_seq = 0

-- Any text as a JSON string: quote, backslash, control and non-ASCII bytes as \u00XX (a
-- Call-ID is ASCII; a byte above 127 in one is kept visible rather than breaking UTF-8).
local function json_text(text)
	local escaped = string.gsub(tostring(text), '[%z\1-\31"\\\127-\255]', function(c)
		return string.format("\\u%04x", string.byte(c))
	end)
	return '"' .. escaped .. '"'
end

local function now_us()
	local sec = tonumber(KSR.pv.get("$TV(s)")) or 0
	local usec = tonumber(KSR.pv.get("$TV(u)")) or 0
	return sec * 1000000 + usec, sec, usec
end

-- "<SBC_KAMAILIO_ID>-<s>-<us>-<pid>-<n>" (hex): unique across this Kamailio's workers and restarts.
local function new_decision()
	decision_seq = (decision_seq + 1) % 4096
	local at, sec, usec = now_us()
	local id = string.format("%s-%x-%05x-%x-%03x", CFG.kamailio_id, sec, usec, tonumber(pv("$pp")) or 0, decision_seq)
	return id, at
end

-- d: id, attempt, at (us), kind, and any of room, key, set, alg, pin, dst, result (the
-- reply Kamailio itself sent), after (status of the attempt before), timeout, link.
local function record_decision(callid, d)
	if ROUTE_SUBJECT == nil or KSR.nats == nil then
		return
	end
	local item = '{"id":"' .. d.id .. '","attempt":' .. d.attempt .. ',"atUs":' .. string.format("%d", d.at)
		.. ',"callId":' .. json_text(string.sub(callid, 1, CALL_ID_MAX)) .. ',"kind":"' .. d.kind .. '","pin":"' .. (d.pin or "none") .. '"'
	if d.room ~= nil then
		item = item .. ',"room":' .. json_text(d.room)
	end
	if d.key ~= nil and d.key ~= "" then
		item = item .. ',"key":' .. json_text(d.key)
	end
	if d.set ~= nil then
		item = item .. ',"set":' .. string.format("%d", d.set) .. ',"alg":' .. string.format("%d", d.alg)
	end
	if d.dst ~= nil then
		item = item .. ',"dst":' .. json_text(d.dst)
	end
	if d.result ~= nil then
		item = item .. ',"result":' .. string.format("%d", d.result)
	end
	if d.after ~= nil then
		item = item .. ',"after":{"status":' .. string.format("%d", d.after) .. (d.timeout and ',"timeout":true' or "") .. "}"
	end
	if d.link ~= nil then
		item = item .. ',"link":' .. json_text(d.link)
	end
	queue_nats("d|" .. d.id .. "|" .. d.attempt, item .. "}")
end

-- A new decision for this INVITE: its id on the request (a caller's own copy removed
-- first) and in AVPs for the failure route's attempts.
local function start_decision()
	local id, at = new_decision()
	KSR.hdr.remove(DECISION_HEADER)
	KSR.hdr.append(DECISION_HEADER .. ": " .. id .. "\r\n")
	KSR.pv.sets("$avp(sbc_decision)", id)
	KSR.pv.seti("$avp(sbc_attempt)", 1)
	return id, at
end

-- Answer the caller ourselves and record it as the decision's outcome.
local function refuse(callid, kind, code, text, extra)
	local id, at = start_decision()
	local d = { id = id, attempt = 1, at = at, kind = kind, result = code }
	for k, v in pairs(extra or {}) do
		d[k] = v
	end
	record_decision(callid, d)
	KSR.sl.sl_send_reply(code, text)
	KSR.x.exit()
end

-- A cascade link leg: a pool node dialing a room on another pool node, marked by the agent
-- that dialed it. It goes to its explicit target, never through hashing or pins, and gets
-- no failover (the control plane re-dials a link it still wants). Only a pool node may send
-- one, and only to a pool node.
local function route_link_leg(callid)
	local link = pv("$hdr(" .. LINK_HEADER .. ")")
	local target = pv("$hdr(" .. TARGET_HEADER .. ")")
	local room = KSR.pv.get("$hdr(" .. ROOM_HEADER_OUT .. ")")
	if KSR.dispatcher.ds_is_from_list_mode(CFG.set_general, 2) < 0 then
		KSR.warn(string.format("sbc-link call_id=%s link=%s from=%s:%s refused: not a pool node\n",
			callid, link, pv("$si"), pv("$sp")))
		refuse(callid, "link", 403, "Cascade links only between pool nodes", { link = link, room = room })
	end
	if not string.match(target, URI_SHAPE) or KSR.dispatcher.ds_is_from_list_uri(CFG.set_general, 2, target) < 0 then
		KSR.warn(string.format("sbc-link call_id=%s link=%s target=%s refused: not a pool node\n", callid, link, target))
		refuse(callid, "link", 404, "Cascade target is not a pool node", { link = link, room = room })
	end
	KSR.setdsturi(target)
	local id, at = start_decision()
	record_decision(callid, { id = id, attempt = 1, at = at, kind = "link", link = link, room = room, dst = target })
	KSR.info(string.format("sbc-route call_id=%s kind=link link=%s room=%s dst=%s decision=%s\n",
		callid, link, pv("$hdr(" .. ROOM_HEADER_OUT .. ")"), target, id))
	relay()
end

-- Initial INVITE: choose the destination, then relay.
local function route_initial_invite()
	local callid = pv("$ci")
	if KSR.hdr.is_present(LINK_HEADER) > 0 then
		route_link_leg(callid)
	end
	if KSR.hdr.is_present(TARGET_HEADER) > 0 then
		refuse(callid, "general", 403, "X-SBC-Target without a cascade link")
	end
	KSR.hdr.remove(ROOM_HEADER_OUT)

	local ruser = pv("$rU")
	local room = room_of_request()
	local kind, set, alg, key, pinkey, shard = "general", CFG.set_general, CFG.alg_general, "", nil, nil

	if room ~= nil then
		local shards = cascade_shards(room)
		if shards ~= nil then
			-- Big room split across several FreeSWITCH nodes. Each participant is put in a
			-- shard chosen from a stable participant key, so a caller who redials lands on the
			-- same shard; each shard has its own pin, and alg 7 hashes "<room>-<shard>".
			shard = djb2(participant_key(callid)) % shards
			key = room .. "-" .. shard
			kind, set, alg = "cascade", CFG.set_cascade, ALG_HASH_PVAR
		else
			key = room
			kind, set = "room", CFG.set_rooms
			-- A room from a header or scoped by domain is not the To / R-URI user: hash the key.
			if CFG.room_header ~= "" or CFG.room_scope == "domain" then
				alg = ALG_HASH_PVAR
			else
				alg = CFG.alg_rooms
			end
		end
		pinkey = key
		KSR.pv.sets("$var(dskey)", key)
		if shard ~= nil then
			KSR.pv.seti("$avp(sbc_shard)", shard)
		end
		KSR.pv.sets("$avp(sbc_pinkey)", pinkey)
		KSR.pv.sets("$avp(sbc_room)", room)
		KSR.hdr.append(ROOM_HEADER_OUT .. ": " .. room .. "\r\n")
	end

	KSR.pv.seti("$avp(sbc_set)", set)
	KSR.pv.seti("$avp(sbc_alg)", alg)
	KSR.pv.sets("$avp(sbc_kind)", kind)
	local decision, at = start_decision()

	if pinkey ~= nil then
		local pinned = live_pin(pinkey)
		if pinned ~= nil then
			KSR.setdsturi(pinned)
			KSR.pv.sets("$avp(sbc_pinned)", pinned)
			record_decision(callid, { id = decision, attempt = 1, at = at, kind = kind, room = room, key = key, set = set, alg = alg, pin = "hit", dst = pinned })
			KSR.info(string.format("sbc-route call_id=%s kind=%s ruser=%s room=%s key=%s pin=%s dst=%s decision=%s\n",
				callid, kind, ruser, room, key, "hit", pinned, decision))
			KSR.tm.t_on_failure("ksr_failure_route")
			relay()
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
		KSR.warn(string.format("sbc-route call_id=%s kind=%s ruser=%s set=%d alg=%d key=%s dst=none result=503 decision=%s\n",
			callid, kind, ruser, set, alg, key, decision))
		record_decision(callid, { id = decision, attempt = 1, at = at, kind = kind, room = room, key = key, set = set, alg = alg, result = 503 })
		KSR.sl.sl_send_reply(503, "Service Unavailable")
		KSR.x.exit()
	end

	local pinned = ""
	if pinkey ~= nil then
		make_pin(room, shard, pinkey, pv("$du"))
		pinned = " pin=made"
	end
	record_decision(callid, { id = decision, attempt = 1, at = at, kind = kind, room = room, key = key, set = set, alg = alg, pin = pinkey ~= nil and "made" or "none", dst = pv("$du") })

	KSR.info(string.format("sbc-route call_id=%s kind=%s ruser=%s set=%d alg=%d key=%s dst=%s%s decision=%s\n",
		callid, kind, ruser, set, alg, key, pv("$du"), pinned, decision))

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
	local pinkey = KSR.pv.get("$avp(sbc_pinkey)")
	local pinned = KSR.pv.get("$avp(sbc_pinned)")
	local reason, status, timeout = nil, 0, false
	if KSR.tm.t_branch_timeout() > 0 then
		if KSR.tm.t_branch_replied() > 0 then
			-- provisional reply received, then fr_inv_timer: the node is alive
			return 1
		end
		reason = "timeout"
		status, timeout = 408, true
		-- Only a dispatcher selection can be marked; a pinned destination was set directly.
		if pinned == nil then
			KSR.dispatcher.ds_mark_dst_state("i")
		end
	elseif KSR.tm.t_check_status("^(5[0-9][0-9]|408)$") > 0 then
		status = tonumber(pv("$T_reply_code")) or 0
		reason = "status-" .. status
	else
		return 1
	end

	local nextok, moved = nil, false
	if pinned ~= nil and tostring(pinned) == failed then
		-- The room's pinned node failed this caller: place the caller as a new room would
		-- be, skipping that node. Only a node that did not answer at all loses the pin; one
		-- that refused (5xx: full, paused) keeps it, and the control plane links the halves.
		KSR.pv.unset("$avp(sbc_pinned)")
		KSR.pv.sets("$var(dskey)", tostring(pinkey))
		nextok = select_dst(tonumber(KSR.pv.get("$avp(sbc_set)")), tonumber(KSR.pv.get("$avp(sbc_alg)"))) > 0
		while nextok and pv("$du") == failed do
			nextok = KSR.dispatcher.ds_next_dst() > 0
		end
		if nextok and reason == "timeout" then
			moved = true
			make_pin(tostring(KSR.pv.get("$avp(sbc_room)")), KSR.pv.get("$avp(sbc_shard)"), tostring(pinkey), pv("$du"))
			KSR.info(string.format("sbc-pin key=%s moved from=%s to=%s (no answer)\n", tostring(pinkey), failed, pv("$du")))
		end
	else
		nextok = KSR.dispatcher.ds_next_dst() > 0
		-- The pin this call made points at the node that failed: move it with the caller.
		if nextok and pinkey ~= nil and parse_pin(KSR.htable.sht_get("pins", tostring(pinkey))) == failed then
			moved = true
			make_pin(tostring(KSR.pv.get("$avp(sbc_room)")), KSR.pv.get("$avp(sbc_shard)"), tostring(pinkey), pv("$du"))
			KSR.info(string.format("sbc-pin key=%s moved from=%s to=%s (%s)\n", tostring(pinkey), failed, pv("$du"), reason))
		end
	end

	local decision = KSR.pv.get("$avp(sbc_decision)")
	local attempt = (tonumber(KSR.pv.get("$avp(sbc_attempt)")) or 1) + 1
	KSR.pv.seti("$avp(sbc_attempt)", attempt)
	local d = {
		id = decision, attempt = attempt, kind = tostring(KSR.pv.get("$avp(sbc_kind)") or "general"),
		set = tonumber(KSR.pv.get("$avp(sbc_set)")), alg = tonumber(KSR.pv.get("$avp(sbc_alg)")),
		after = status, timeout = timeout, pin = moved and "moved" or "none",
	}
	d.at = now_us()
	if pinkey ~= nil then
		d.room, d.key = tostring(KSR.pv.get("$avp(sbc_room)")), tostring(pinkey)
	end

	if not nextok then
		-- What the caller gets is this reply (or tm's 408): recorded as the decision's outcome.
		-- tm sends a 503 upstream as 500 (RFC 3261 16.7: a 503 means this proxy's target is
		-- unavailable, not the caller's request), so the caller sees 500.
		d.result = status == 503 and 500 or status
		if decision ~= nil then
			record_decision(callid, d)
		end
		KSR.warn(string.format("sbc-failover call_id=%s failed_dst=%s reason=%s next=none\n",
			callid, failed, reason))
		-- nothing left to try: the failure (or tm's 408) goes upstream
		return 1
	end

	d.dst = pv("$du")
	if decision ~= nil then
		record_decision(callid, d)
	end
	KSR.info(string.format("sbc-failover call_id=%s failed_dst=%s reason=%s next=%s decision=%s\n",
		callid, failed, reason, pv("$du"), tostring(decision)))
	KSR.tm.t_on_failure("ksr_failure_route")
	relay()
end

-- The queue (queue_nats), published by the natsflush timer process (kamailio.cfg, rtimer),
-- at most NATS_BATCH_MAX items per message:
--   pins      {"v":2,"by":"<id>","pins":[{"room":..,"key":..,["shard":..,]"uri":..,"at":..},..]}
--   decisions {"v":1,"by":"<id>","decisions":[{"id":..,"attempt":..,"atUs":..,"callId":..,..},..]}
local NATS_BATCH_MAX = 32
local PIN_BATCH_MAX = NATS_BATCH_MAX

local function publish_batch(subject, head, field, items, first, last)
	local body = head .. ',"' .. field .. '":[' .. table.concat(items, ",", first, last) .. "]}"
	if KSR.nats.publish(subject, body) < 0 then
		KSR.err(string.format("sbc-nats: nats_publish of %d %s to %s failed\n", last - first + 1, field, subject))
	end
end

local function publish_all(subject, version, field, items, n)
	local head = '{"v":' .. version .. ',"by":' .. json_str(CFG.kamailio_id)
	for first = 1, n, NATS_BATCH_MAX do
		publish_batch(subject, head, field, items, first, math.min(n, first + NATS_BATCH_MAX - 1))
	end
end

function ksr_nats_flush(_evname)
	if KSR.nats == nil then
		return 1
	end
	-- Nothing queued since the last flush: no walk over the queue's slots (200 times a second).
	if KSR.htable.sht_get("natsq_flag", "queued") == nil then
		return 1
	end
	KSR.htable.sht_rm("natsq_flag", "queued")
	if KSR.htable.sht_iterator_start("natsq", "natsq") < 0 then
		return 1
	end
	local keys, n = {}, 0
	local pins, np, decisions, nd = {}, 0, {}, 0
	while KSR.htable.sht_iterator_next("natsq") > 0 do
		local key = KSR.pv.get("$shtitkey(natsq)")
		local item = KSR.pv.get("$shtitval(natsq)")
		if key ~= nil then
			n = n + 1
			keys[n] = key
			if item ~= nil then
				if string.sub(key, 1, 2) == "p|" then
					np = np + 1
					pins[np] = item
				else
					nd = nd + 1
					decisions[nd] = item
				end
			end
		end
	end
	KSR.htable.sht_iterator_end("natsq")
	-- Removed after the walk, not during it: sht_iterator_rm skipped an item now and then
	-- (2 of 40 queued at once, seen in test/integration/kamailio-pins.test.ts). Every key is
	-- unique to one item (time or attempt in it), so an item queued meanwhile stays.
	for i = 1, n do
		KSR.htable.sht_rm("natsq", keys[i])
	end
	if np > 0 and PINS_SUBJECT ~= nil then
		publish_all(PINS_SUBJECT, 2, "pins", pins, np)
	end
	if nd > 0 and ROUTE_SUBJECT ~= nil then
		publish_all(ROUTE_SUBJECT, 1, "decisions", decisions, nd)
	end
	return 1
end

-- Pins heard on NATS (kamailio.cfg: nats event_callback). Every Kamailio hears every pin,
-- its own included. A pin is taken when this Kamailio has none for the key, or when the
-- heard one was made earlier (ties: the smaller URI), so two Kamailios that placed one
-- room at once end on the same pin. Anything malformed is logged and dropped. Read: a
-- batch (v2, above) and, from a Kamailio not yet upgraded, a single pin (v1:
-- {"v":1,"room":..,"key":..,"uri":..,"by":..,"at":..}).
local PIN_FIELD = {
	room = '"room":"([%w%._/%-]+)"',
	key = '"key":"([%w%._/%-]+)"',
	uri = '"uri":"([^"]+)"',
	at = '"at":(%d+)',
}
local BY_FIELD = '"by":"([%w%._%-]+)"'

local OWN_PIN = '"by":"' .. CFG.kamailio_id .. '"'

local function take_pin(item, by)
	local f = {}
	for name, pattern in pairs(PIN_FIELD) do
		f[name] = string.match(item, pattern)
		if f[name] == nil then
			KSR.warn(string.format("sbc-pin refused: no valid %s in %s\n", name, string.sub(item, 1, 300)))
			return
		end
	end
	if #f.key > ROOM_KEY_MAX + 12 or not string.match(f.uri, URI_SHAPE) then
		KSR.warn(string.format("sbc-pin refused: bad key or uri in %s\n", string.sub(item, 1, 300)))
		return
	end
	local at = tonumber(f.at)
	local uri, have_at = parse_pin(KSR.htable.sht_get("pins", f.key))
	if uri ~= nil and (have_at < at or (have_at == at and uri <= f.uri)) then
		if uri ~= f.uri then
			KSR.info(string.format("sbc-pin key=%s kept dst=%s over dst=%s by=%s (earlier)\n", f.key, uri, f.uri, by))
		end
		return
	end
	KSR.htable.sht_sets("pins", f.key, f.uri .. ";at=" .. f.at .. ";by=" .. by)
	KSR.info(string.format("sbc-pin key=%s dst=%s heard by=%s\n", f.key, f.uri, by))
end

local function take_pins(body)
	-- Our own pins, echoed back by NATS: nothing to do (checked before any parsing).
	if string.find(body, OWN_PIN, 1, true) ~= nil then
		return
	end
	local by = string.match(body, BY_FIELD)
	if by == nil then
		KSR.warn(string.format("sbc-pin refused: no valid by in %s\n", string.sub(body, 1, 300)))
		return
	end
	if string.find(body, '"pins":[', 1, true) == nil then
		take_pin(body, by)
		return
	end
	local n = 0
	-- The batch's items are flat objects: the only brace pairs with no brace inside.
	for item in string.gmatch(body, "{[^{}]*}") do
		n = n + 1
		if n > PIN_BATCH_MAX then
			KSR.warn(string.format("sbc-pin refused: more than %d pins in one message by=%s\n", PIN_BATCH_MAX, by))
			return
		end
		take_pin(item, by)
	end
	if n == 0 then
		KSR.warn(string.format("sbc-pin refused: no pins in %s\n", string.sub(body, 1, 300)))
	end
end

function ksr_nats_event(evname)
	if PINS_SUBJECT ~= nil and evname == "nats:" .. PINS_SUBJECT then
		take_pins(pv("$natsData"))
	end
	return 1
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
