--[[
  Whether `owner` holds a job's lease and the job is not in a final stage, for every script
  that changes a lease.

  stage        the job's stage (nil when the job is gone)
  leaseOwner   the job's lease owner (nil when nobody holds it)
  owner        who asks
  finalStages  final stages, comma-separated
]]
local function leaseHeld(stage, leaseOwner, owner, finalStages)
  if not stage or leaseOwner ~= owner then
    return false
  end
  for final in string.gmatch(finalStages, '[^,]+') do
    if stage == final then
      return false
    end
  end
  return true
end
