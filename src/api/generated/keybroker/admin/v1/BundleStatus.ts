// Original file: proto/keybroker/admin/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface BundleStatus {
  'name'?: (string);
  'key_ids'?: (string)[];
  /**
   * Seconds since the bundle was last loaded; negative when it never loaded.
   */
  'age_seconds'?: (number | string);
  'refreshes'?: (number | string | Long);
  'failures'?: (number | string | Long);
}

export interface BundleStatus__Output {
  'name': (string);
  'key_ids': (string)[];
  /**
   * Seconds since the bundle was last loaded; negative when it never loaded.
   */
  'age_seconds': (number);
  'refreshes': (string);
  'failures': (string);
}
