// Original file: proto/keybroker/admin/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface AuditStatus {
  /**
   * Whether decisions are exported as spans.
   */
  'tracing'?: (boolean);
  'exported'?: (number | string | Long);
  'dropped'?: (number | string | Long);
}

export interface AuditStatus__Output {
  /**
   * Whether decisions are exported as spans.
   */
  'tracing': (boolean);
  'exported': (string);
  'dropped': (string);
}
