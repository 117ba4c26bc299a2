// Original file: proto/keybroker/admin/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface ReloadStatus {
  'applied'?: (number | string | Long);
  'rejected'?: (number | string | Long);
}

export interface ReloadStatus__Output {
  'applied': (string);
  'rejected': (string);
}
