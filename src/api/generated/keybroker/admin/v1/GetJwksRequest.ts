// Original file: proto/keybroker/admin/v1/admin.proto


export interface GetJwksRequest {
}

export interface GetJwksRequest__Output {
}
