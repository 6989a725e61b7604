-- One page of a segment, for previews: the members at positions [start, start + count) of the
-- program's member list (by join time) that are in the segment, with what their text is
-- rendered from. Arguments: store::scripts::campaigns::SegmentPage.
local page = redis.call('ZRANGE', K.members(), A.start, A.start + A.count - 1)
local members = {}
for _, phone in ipairs(page) do
  local m = member_fields(phone)
  if in_segment(phone, m, A.segment) then
    table.insert(members, { phone = phone, first_name = m.first_name,
      balance = tonumber(m.balance or '0'), locale = m.locale })
  end
end
local next_start
if #page == A.count then next_start = A.start + A.count end
return reply({ status = 'page', members = members, next = next_start })
