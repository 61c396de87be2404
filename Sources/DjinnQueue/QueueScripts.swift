import DjinnRedis

/// Every multi-key change the queue makes, as atomic Lua scripts (run with EVALSHA, falling
/// back to EVAL after a restart). Key names are curlyq v0.4.0's plus our extra hashes
/// (`QueueKeys`, docs/queue.md). Scores are Unix seconds; our own timestamps in hashes are
/// Unix milliseconds. Scripts read consumers' in-flight sets by names found in
/// `Q:consumers`, as curlyq's do (fine on a single Redis; not cluster-safe, like curlyq).
enum QueueScripts {
    /// Enqueue jobs, de-duplicating by id as curlyq's producer does (`HSETNX` then `RPUSH`
    /// or `ZADD`). A new job also gets its ready time and options, and stale extra entries
    /// left by a finished job with the same id are cleared.
    ///
    /// KEYS: 1 `Q:data`, 2 `Q:active`, 3 `Q:scheduled`, 4 `Q:enqueued_at`, 5 `Q:options`,
    ///       6 `Q:errors`, 7 `Q:deaths`
    /// ARGV: groups of five per job: id, message, score (`""`: ready now, else Unix seconds
    ///       it is due), ready time (Unix ms), options (`""`: none)
    /// Returns: one integer per job, 1 enqueued, 0 an id that already existed (untouched).
    static let enqueue = RedisScript(
        """
        local result = {}
        for i = 1, #ARGV, 5 do
          local id = ARGV[i]
          if redis.call('HSETNX', KEYS[1], id, ARGV[i + 1]) == 1 then
            if ARGV[i + 2] == '' then
              redis.call('RPUSH', KEYS[2], id)
            else
              redis.call('ZADD', KEYS[3], ARGV[i + 2], id)
            end
            redis.call('HSET', KEYS[4], id, ARGV[i + 3])
            if ARGV[i + 4] == '' then
              redis.call('HDEL', KEYS[5], id)
            else
              redis.call('HSET', KEYS[5], id, ARGV[i + 4])
            end
            redis.call('HDEL', KEYS[6], id)
            redis.call('HDEL', KEYS[7], id)
            result[#result + 1] = 1
          else
            result[#result + 1] = 0
          end
        end
        return result
        """)

    /// Registers a consumer or refreshes its heartbeat, recording how long after a heartbeat
    /// it counts as dead (custodians use 120 s, Go's rule, for consumers without an entry).
    /// The score is the Redis server's clock, so that consumers on hosts whose clocks
    /// disagree don't take each other for dead.
    ///
    /// KEYS: 1 `Q:consumers`, 2 `Q:consumer_expiry`
    /// ARGV: 1 the consumer's in-flight set key, 2 expiry (seconds)
    /// Returns: the score written (Unix seconds)
    static let heartbeat = RedisScript(
        """
        local now = redis.call('TIME')[1]
        redis.call('ZADD', KEYS[1], now, ARGV[1])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
        return tonumber(now)
        """)

    /// Reserves up to N jobs from the HEAD of `Q:active` (oldest first; the list is not
    /// rotated) into the consumer's in-flight set, as curlyq's get-jobs script does, and
    /// returns them with their extra data.
    ///
    /// KEYS: 1 `Q:consumers`, 2 `Q:active`, 3 the in-flight set, 4 `Q:data`,
    ///       5 `Q:enqueued_at`, 6 `Q:options`
    /// ARGV: 1 N (at most 1000)
    /// Returns: a flat array, four entries per job: id, message, ready time (ms), options —
    ///          each of the last three nil when absent; an error reply starting
    ///          `DJINNQ_UNREGISTERED` when the in-flight set has no entry in `Q:consumers`.
    static let reserve = RedisScript(
        """
        if not redis.call('ZSCORE', KEYS[1], KEYS[3]) then
          return redis.error_reply('DJINNQ_UNREGISTERED consumer is not registered')
        end
        local ids = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
        local count = #ids
        if count == 0 then return {} end
        redis.call('LTRIM', KEYS[2], count, -1)
        redis.call('SADD', KEYS[3], unpack(ids))
        local messages = redis.call('HMGET', KEYS[4], unpack(ids))
        local times = redis.call('HMGET', KEYS[5], unpack(ids))
        local options = redis.call('HMGET', KEYS[6], unpack(ids))
        local result = {}
        for i = 1, count do
          result[#result + 1] = ids[i]
          result[#result + 1] = messages[i]
          result[#result + 1] = times[i]
          result[#result + 1] = options[i]
        end
        return result
        """)

    /// Settles a batch of jobs this consumer holds. Each operation applies only if the id
    /// is still in the in-flight set (`SREM` returns 1), as curlyq's ack/retry/kill do, so
    /// settling twice, or after a custodian requeued the job, changes nothing.
    ///   ack:     `HDEL Q:data`, and the job's entries in every extra hash
    ///   retry:   `ZADD Q:scheduled score`, `HSET Q:data message` (attempt + 1), the error in
    ///            `Q:errors`; a recorded ready time becomes the due time
    ///   kill:    `ZADD Q:dead now`, `HSET Q:data message` unless empty (kept as is), the error
    ///   requeue: `LPUSH Q:active` (back at the head, message unchanged: not an attempt)
    ///
    /// KEYS: 1 in-flight set, 2 `Q:data`, 3 `Q:scheduled`, 4 `Q:dead`, 5 `Q:active`,
    ///       6 `Q:errors`, 7 `Q:deaths`, 8 `Q:enqueued_at`, 9 `Q:options`
    /// ARGV: 1 now (Unix seconds); then groups of five: operation (`ack`, `retry`, `kill`,
    ///       `requeue`), id, message, score (retry: whole Unix seconds), error text
    /// Returns: one integer per operation, 1 applied, 0 the job was no longer held.
    static let settle = RedisScript(
        """
        local result = {}
        for i = 2, #ARGV, 5 do
          local op, id = ARGV[i], ARGV[i + 1]
          if redis.call('SREM', KEYS[1], id) == 1 then
            if op == 'ack' then
              redis.call('HDEL', KEYS[2], id)
              redis.call('HDEL', KEYS[6], id)
              redis.call('HDEL', KEYS[7], id)
              redis.call('HDEL', KEYS[8], id)
              redis.call('HDEL', KEYS[9], id)
            elseif op == 'retry' then
              redis.call('ZADD', KEYS[3], ARGV[i + 3], id)
              redis.call('HSET', KEYS[2], id, ARGV[i + 2])
              redis.call('HSET', KEYS[6], id, ARGV[i + 4])
              if redis.call('HEXISTS', KEYS[8], id) == 1 then
                redis.call('HSET', KEYS[8], id, ARGV[i + 3] .. '000')
              end
            elseif op == 'kill' then
              redis.call('ZADD', KEYS[4], ARGV[1], id)
              if ARGV[i + 2] ~= '' then redis.call('HSET', KEYS[2], id, ARGV[i + 2]) end
              redis.call('HSET', KEYS[6], id, ARGV[i + 4])
            else
              redis.call('LPUSH', KEYS[5], id)
            end
            result[#result + 1] = 1
          else
            result[#result + 1] = 0
          end
        end
        return result
        """)

    /// Moves due jobs from `Q:scheduled` to the tail of `Q:active` (curlyq's scheduler).
    ///
    /// KEYS: 1 `Q:scheduled`, 2 `Q:active`
    /// ARGV: 1 now (Unix seconds, may have a fraction), 2 most jobs to move (at most 1000)
    /// Returns: the number moved (the caller repeats while it equals the limit).
    static let enqueueDue = RedisScript(
        """
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
        if #ids > 0 then
          redis.call('RPUSH', KEYS[2], unpack(ids))
          redis.call('ZREM', KEYS[1], unpack(ids))
        end
        return #ids
        """)

    /// Orphan recovery (curlyq's custodian, extended). A consumer is *stale* when its
    /// heartbeat is at least its recorded expiry old (`Q:consumer_expiry`, else ARGV 4: Go's
    /// 120 s); the calling consumer never counts. A stale consumer is only treated as dead
    /// when the caller confirms it: it passes the consumers it saw stale in an earlier pass,
    /// with the score it saw then, and only those still stale with that same score are dead
    /// (a live consumer whose heartbeats were held up, e.g. by a Redis restart, has written a
    /// new score meanwhile). Each job in a dead consumer's set goes back to the HEAD of
    /// `Q:active` (message unchanged) and its death count goes up; a job that reaches ARGV 5
    /// deaths goes to `Q:dead` instead, with the reason in `Q:errors`. A dead consumer is
    /// removed once its set is empty. Expiry entries of consumers that are gone are dropped.
    ///
    /// KEYS: 1 `Q:consumers`, 2 `Q:consumer_expiry`, 3 `Q:active`, 4 `Q:dead`, 5 `Q:data`,
    ///       6 `Q:errors`, 7 `Q:deaths`
    /// ARGV: 1 now (Unix seconds; empty: the server's clock, as heartbeats use), 2 the
    ///       caller's in-flight set key, 3 most jobs to move, 4 expiry (seconds) of consumers
    ///       with no entry, 5 poison deaths (0: never), then pairs: a consumer confirmed dead,
    ///       the score it had when first seen stale
    /// Returns: {jobs requeued, jobs killed, consumers removed, then pairs: each stale
    ///          consumer still registered, its score}
    static let recoverOrphans = RedisScript(
        """
        local now = tonumber(ARGV[1]) or tonumber(redis.call('TIME')[1])
        local limit = tonumber(ARGV[3])
        local poison = tonumber(ARGV[5])
        local confirmed = {}
        for i = 6, #ARGV - 1, 2 do confirmed[ARGV[i]] = ARGV[i + 1] end
        local requeued, killed, removed = 0, 0, 0
        local stale = {}
        local consumers = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES')
        for i = 1, #consumers, 2 do
          local consumer, score = consumers[i], consumers[i + 1]
          local expiry = tonumber(redis.call('HGET', KEYS[2], consumer) or ARGV[4]) or tonumber(ARGV[4])
          if consumer ~= ARGV[2] and tonumber(score) <= now - expiry then
            local gone = false
            if confirmed[consumer] == score and limit > 0 then
              local ids = redis.call('SPOP', consumer, limit)
              for _, id in ipairs(ids) do
                if redis.call('HEXISTS', KEYS[5], id) == 1 then
                  local deaths = redis.call('HINCRBY', KEYS[7], id, 1)
                  if poison > 0 and deaths >= poison then
                    redis.call('ZADD', KEYS[4], math.floor(now), id)
                    redis.call('HSET', KEYS[6], id,
                      'poison pill: consumers died ' .. deaths .. ' times while holding the job')
                    killed = killed + 1
                  else
                    redis.call('LPUSH', KEYS[3], id)
                    requeued = requeued + 1
                  end
                end
              end
              if #ids < limit then
                redis.call('ZREM', KEYS[1], consumer)
                redis.call('HDEL', KEYS[2], consumer)
                removed = removed + 1
                gone = true
              end
              limit = limit - #ids
            end
            if not gone then
              stale[#stale + 1] = consumer
              stale[#stale + 1] = score
            end
          end
        end
        for _, consumer in ipairs(redis.call('HKEYS', KEYS[2])) do
          if not redis.call('ZSCORE', KEYS[1], consumer) then redis.call('HDEL', KEYS[2], consumer) end
        end
        local result = {requeued, killed, removed}
        for _, value in ipairs(stale) do result[#result + 1] = value end
        return result
        """)

    /// Puts back jobs of this consumer's in-flight set that it does not know it holds: a
    /// reserve whose reply was lost (connection broken after sending) left them there, and
    /// no custodian would recover them while the consumer heartbeats.
    ///
    /// KEYS: 1 the in-flight set, 2 `Q:active`
    /// ARGV: the ids the consumer holds
    /// Returns: the number of ids moved to the head of `Q:active`.
    static let reconcile = RedisScript(
        """
        local known = {}
        for i = 1, #ARGV do known[ARGV[i]] = true end
        local moved = 0
        for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          if not known[id] then
            redis.call('SREM', KEYS[1], id)
            redis.call('LPUSH', KEYS[2], id)
            moved = moved + 1
          end
        end
        return moved
        """)

    /// Removes a consumer at the end of an orderly shutdown; anything still in its in-flight
    /// set (normally nothing) goes back to the head of `Q:active`.
    ///
    /// KEYS: 1 `Q:consumers`, 2 `Q:consumer_expiry`, 3 the in-flight set, 4 `Q:active`
    /// ARGV: 1 the in-flight set key (its member name in `Q:consumers`)
    /// Returns: the number of jobs requeued.
    static let deregister = RedisScript(
        """
        local ids = redis.call('SMEMBERS', KEYS[3])
        for _, id in ipairs(ids) do redis.call('LPUSH', KEYS[4], id) end
        redis.call('DEL', KEYS[3])
        redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        return #ids
        """)

    // MARK: Inspection and dead-set operations

    /// One consistent snapshot of a queue's numbers.
    ///
    /// KEYS: 1 `Q:active`, 2 `Q:scheduled`, 3 `Q:dead`, 4 `Q:consumers`, 5 `Q:consumer_expiry`,
    ///       6 `Q:enqueued_at`
    /// ARGV: 1 expiry (seconds) of consumers with no entry
    /// Returns: {ready, scheduled, dead, in flight, consumers, live consumers, ready time (ms)
    ///          of the job at the head of `Q:active` or nil}; consumers' liveness is judged by
    ///          the server's clock, as their heartbeats are written
    static let stats = RedisScript(
        """
        local now = tonumber(redis.call('TIME')[1])
        local consumers = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
        local inflight, live = 0, 0
        for i = 1, #consumers, 2 do
          inflight = inflight + redis.call('SCARD', consumers[i])
          local expiry = tonumber(redis.call('HGET', KEYS[5], consumers[i]) or ARGV[1]) or tonumber(ARGV[1])
          if tonumber(consumers[i + 1]) > now - expiry then live = live + 1 end
        end
        local head = redis.call('LINDEX', KEYS[1], 0)
        local readyAt = false
        if head then readyAt = redis.call('HGET', KEYS[6], head) end
        return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]),
                inflight, #consumers / 2, live, readyAt}
        """)

    /// A page of the dead set, most recent deaths first.
    ///
    /// KEYS: 1 `Q:dead`, 2 `Q:data`, 3 `Q:errors`
    /// ARGV: 1 first rank, 2 last rank (ZREVRANGE bounds)
    /// Returns: a flat array, four entries per job: id, died at (Unix seconds), message or
    ///          nil, last error or nil.
    static let deadPage = RedisScript(
        """
        local entries = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
        local result = {}
        for i = 1, #entries, 2 do
          local id = entries[i]
          result[#result + 1] = id
          result[#result + 1] = entries[i + 1]
          result[#result + 1] = redis.call('HGET', KEYS[2], id)
          result[#result + 1] = redis.call('HGET', KEYS[3], id)
        end
        return result
        """)

    /// Moves a dead job back to the tail of `Q:active` with a message whose attempt is reset,
    /// clearing its error and death count, if the job is still dead with the message the
    /// caller read (compare-and-set).
    ///
    /// KEYS: 1 `Q:dead`, 2 `Q:data`, 3 `Q:active`, 4 `Q:errors`, 5 `Q:deaths`, 6 `Q:enqueued_at`
    /// ARGV: 1 id, 2 message as read, 3 new message, 4 now (Unix ms)
    /// Returns: 1 moved, 0 not in the dead set, -1 the message changed meanwhile.
    static let retryDead = RedisScript(
        """
        if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
        if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return -1 end
        redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
        redis.call('HDEL', KEYS[4], ARGV[1])
        redis.call('HDEL', KEYS[5], ARGV[1])
        redis.call('HSET', KEYS[6], ARGV[1], ARGV[4])
        redis.call('RPUSH', KEYS[3], ARGV[1])
        return 1
        """)

    /// Deletes dead jobs: the named ones, or (no ids) up to ARGV 1 of the oldest.
    ///
    /// KEYS: 1 `Q:dead`, 2 `Q:data`, 3 `Q:errors`, 4 `Q:deaths`, 5 `Q:enqueued_at`, 6 `Q:options`
    /// ARGV: 1 most jobs to purge when no ids are given, then the ids (optional)
    /// Returns: the number of jobs deleted.
    static let purgeDead = RedisScript(
        """
        local ids = {}
        if #ARGV > 1 then
          for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
        else
          ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
        end
        local purged = 0
        for _, id in ipairs(ids) do
          if redis.call('ZREM', KEYS[1], id) == 1 then
            for k = 2, 6 do redis.call('HDEL', KEYS[k], id) end
            purged = purged + 1
          end
        end
        return purged
        """)

    /// Drops entries of the extra job hashes whose job no longer exists in `Q:data` (a Go
    /// consumer acked it: Go knows nothing of our hashes), one HSCAN page at a time.
    ///
    /// KEYS: 1 `Q:data`, 2 the extra hash to sweep
    /// ARGV: 1 HSCAN cursor, 2 COUNT hint
    /// Returns: {next cursor, entries dropped}
    static let sweepExtras = RedisScript(
        """
        local page = redis.call('HSCAN', KEYS[2], ARGV[1], 'COUNT', ARGV[2])
        local dropped = 0
        local entries = page[2]
        for i = 1, #entries, 2 do
          if redis.call('HEXISTS', KEYS[1], entries[i]) == 0 then
            redis.call('HDEL', KEYS[2], entries[i])
            dropped = dropped + 1
          end
        end
        return {page[1], dropped}
        """)
}
