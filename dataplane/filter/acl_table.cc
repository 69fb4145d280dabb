// Control path: see acl_table.h.
#include "dataplane/filter/acl_table.h"

#include <rte_errno.h>

#include <atomic>
#include <cstddef>

namespace gp {

namespace {
enum { kProto, kSrc, kDst, kSport, kDport, kFields };

RTE_ACL_RULE_DEF(GpAclRule, kFields);

const rte_acl_field_def kDefs[kFields] = {
    {RTE_ACL_FIELD_TYPE_BITMASK, sizeof(uint8_t), kProto, 0, offsetof(AclKey, proto)},
    {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), kSrc, 1, offsetof(AclKey, src)},
    {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), kDst, 2, offsetof(AclKey, dst)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kSport, 3, offsetof(AclKey, sport)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kDport, 3, offsetof(AclKey, dport)},
};

std::atomic<uint32_t> g_seq{0};
}  // namespace

std::unique_ptr<AclTable> AclTable::build(const std::vector<AclRuleSpec>& rules, uint16_t workers,
                                          std::string* err) {
  std::unique_ptr<AclTable> t(new AclTable());
  t->workers_ = workers == 0 ? 1 : workers;
  t->slots_ = rules.size() + 1;
  t->hits_ = std::make_unique<RelaxedCounter[]>(t->slots_ * t->workers_);
  for (const auto& r : rules) t->allow_.push_back(r.allow ? 1 : 0);
  const std::string name = "gp_acl" + std::to_string(g_seq.fetch_add(1));
  rte_acl_param p{};
  p.name = name.c_str();
  p.socket_id = SOCKET_ID_ANY;
  p.rule_size = RTE_ACL_RULE_SZ(kFields);
  p.max_rule_num = static_cast<uint32_t>(rules.empty() ? 1 : rules.size());
  t->ctx_ = rte_acl_create(&p);
  if (t->ctx_ == nullptr) {
    *err = std::string("rte_acl_create: ") + rte_strerror(rte_errno);
    return nullptr;
  }
  std::vector<GpAclRule> acl(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    const AclRuleSpec& r = rules[i];
    GpAclRule& a = acl[i];
    a = GpAclRule{};
    // First match wins: earlier rules get higher priorities. userdata 0 means "no
    // match" to rte_acl, so rule i reports i + 1.
    a.data.category_mask = 1;
    a.data.priority = static_cast<int32_t>(rules.size() - i);
    a.data.userdata = static_cast<uint32_t>(i + 1);
    a.field[kProto].value.u8 = r.proto;
    a.field[kProto].mask_range.u8 = r.proto == 0 ? 0 : 0xff;
    a.field[kSrc].value.u32 = r.src_prefix == 0 ? 0 : r.src;
    a.field[kSrc].mask_range.u32 = r.src_prefix;
    a.field[kDst].value.u32 = r.dst_prefix == 0 ? 0 : r.dst;
    a.field[kDst].mask_range.u32 = r.dst_prefix;
    a.field[kSport].value.u16 = r.src_lo;
    a.field[kSport].mask_range.u16 = r.src_hi;
    a.field[kDport].value.u16 = r.dst_lo;
    a.field[kDport].mask_range.u16 = r.dst_hi;
  }
  int rc = acl.empty()
               ? 0
               : rte_acl_add_rules(t->ctx_, reinterpret_cast<const rte_acl_rule*>(acl.data()),
                                   static_cast<uint32_t>(acl.size()));
  if (rc != 0) {
    *err = std::string("rte_acl_add_rules: ") + rte_strerror(-rc);
    return nullptr;
  }
  rte_acl_config cfg{};
  cfg.num_categories = 1;
  cfg.num_fields = kFields;
  std::copy(std::begin(kDefs), std::end(kDefs), cfg.defs);
  if ((rc = rte_acl_build(t->ctx_, &cfg)) != 0) {
    *err = std::string("rte_acl_build: ") + rte_strerror(-rc);
    return nullptr;
  }
  return t;
}

AclTable::~AclTable() {
  if (ctx_ != nullptr) rte_acl_free(ctx_);
}

uint64_t AclTable::hits(size_t i) const noexcept {
  const size_t slot = i == allow_.size() ? 0 : i + 1;
  uint64_t t = 0;
  for (uint16_t w = 0; w < workers_; ++w) t += hits_[static_cast<size_t>(w) * slots_ + slot].get();
  return t;
}

}  // namespace gp
