// Original file: proto/keybroker/admin/v1/admin.proto

import type { Decision as _keybroker_admin_v1_Decision, Decision__Output as _keybroker_admin_v1_Decision__Output } from '../../../keybroker/admin/v1/Decision';

export interface ExplainResponse {
  'decision'?: (_keybroker_admin_v1_Decision | null);
}

export interface ExplainResponse__Output {
  'decision': (_keybroker_admin_v1_Decision__Output | null);
}
