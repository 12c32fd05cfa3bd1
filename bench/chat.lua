-- wrk script: POST chat completions as many users, print one JSON summary line.
--
-- Usage: wrk ... -s chat.lua URL -- API_KEY MODEL QUESTIONS_FILE USERS [chat|embeddings]
-- Request n comes from user n % USERS and asks question n % #questions plus " (request n)",
-- the same rule as bench/workload.py, so every text is unique and no cache makes retrieval free.

local threads = {}

-- WRK_PAUSE_MS paces the load: each connection waits that long on average before each request,
-- so N connections send about N / (pause + latency) requests a second (wrk2's fixed rate is not
-- in Debian). Each pause is drawn from 0 to twice the mean: equal pauses would keep the
-- connections in step, sending their requests in bursts of N. Unset, wrk sends each request as
-- soon as the last is answered.
local pause = tonumber(os.getenv("WRK_PAUSE_MS") or "")
if pause then
   function delay()
      return math.random(0, 2 * pause)
   end
end

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   model = args[2]
   users = tonumber(args[4])
   kind = args[5] or "chat"
   questions = {}
   for line in io.lines(args[3]) do
      questions[#questions + 1] = line
   end
   headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. args[1],
   }
   -- Threads start far apart so two threads never send the same request number.
   n = id * 1000003
   non2xx = 0
end

function request()
   headers["X-User-Id"] = string.format("bench-user-%03d", n % users)
   local text = questions[(n % #questions) + 1] .. " (request " .. n .. ")"
   local body
   if kind == "embeddings" then
      -- What the OpenAI SDKs send for embeddings.create(model=..., input=text).
      body = '{"model":"' .. model .. '","input":"' .. text .. '","encoding_format":"base64"}'
   else
      body = '{"model":"' .. model .. '","max_tokens":256,"messages":['
         .. '{"role":"system","content":"You are a helpful assistant."},'
         .. '{"role":"user","content":"' .. text .. '"}]}'
   end
   n = n + 1
   return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local bad = 0
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non2xx")
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,'
         .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
         .. '"mean_us":%.1f,"max_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d}\n',
      summary.requests, summary.duration, bad,
      e.connect, e.read, e.write, e.timeout,
      latency.mean, latency.max,
      latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)
   ))
end
