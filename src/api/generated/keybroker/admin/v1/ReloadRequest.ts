// Original file: proto/keybroker/admin/v1/admin.proto


export interface ReloadRequest {
}

export interface ReloadRequest__Output {
}
