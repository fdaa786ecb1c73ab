local F = {}
F.id = "tcpf"
F.__index = F
function F:new() return setmetatable({n=0}, F) end
function F:start_analyze(txn, chn)
  core.Info("start " .. tostring(chn:is_resp()))
  filter.register_data_filter(self, chn)
end
function F:end_analyze(txn, chn)
  core.Info("end " .. tostring(chn:is_resp()))
end
function F:tcp_payload(txn, chn)
  local n = chn:input()
  if n == 0 then return end
  core.Info("payload " .. tostring(chn:is_resp()) .. " in=" .. n .. " data=" .. chn:data())
  if chn:is_resp() then
    chn:set(string.upper(chn:data()))
    return
  end
  local l = chn:line()
  if not l:find("\n") then core.Info("hold"); return filter.WAIT end
  chn:set("LINE(" .. l:sub(1, -2) .. ")", 0, #l)
  return chn:input()
end
core.register_filter("tcpf", F, function(f, args) return f end)
