// Original file: proto/keybroker/admin/v1/admin.proto


export interface StatusRequest {
}

export interface StatusRequest__Output {
}
