#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into fuzz/corpus/<target>/.

The formats are those of cogsync::fuzzing: a small text request per input. Signed sigv4
seeds use the fuzzing module's developer key and are dated at its fixed NOW, so they
verify and lead the fuzzer into the canonicaliser. Run from the repository root.
"""
import hashlib
import hmac
import os
import urllib.parse

ACCESS_KEY = "AKIDFUZZ000000000000"
SECRET_KEY = "fuzz/secret/key"
AMZ_DATE = "20260101T000000Z"
POOL = "us-east-1%3A11111111-2222-3333-4444-555555555555"
IDENT = "us-east-1%3Aaaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def write(target, name, data):
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def sign(method, path, query, headers, body, service="cognito-sync"):
    """SigV4 as the AWS SDKs do it for non-S3 services: the path encoded once more."""
    headers = dict(headers)
    headers["x-amz-date"] = AMZ_DATE
    signed = sorted(headers)
    canonical_uri = "/".join(urllib.parse.quote(s, safe="-_.~") for s in path.split("/"))
    pairs = sorted(
        (urllib.parse.quote(urllib.parse.unquote(k), safe="-_.~"),
         urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~"))
        for k, _, v in (p.partition("=") for p in query.split("&") if p)
    )
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical = "\n".join([
        method, canonical_uri, canonical_query,
        "".join(f"{h}:{headers[h].strip()}\n" for h in signed),
        ";".join(signed), hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{AMZ_DATE[:8]}/us-east-1/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", AMZ_DATE, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (AMZ_DATE[:8], "us-east-1", service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    target = path + ("?" + query if query else "")
    lines = [f"{method} {target}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\n".join(lines) + "\n\n").encode() + body


def sigv4_seeds():
    ds = f"/identitypools/{POOL}/identities/{IDENT}/datasets/ds"
    write("sigv4", "signed_get", sign("GET", ds + "/records", "maxResults=10&lastSyncCount=0",
                                       {"host": "localhost"}, b""))
    body = b'{"SyncSessionToken":"t","RecordPatches":[]}'
    write("sigv4", "signed_post", sign("POST", ds, "", {"host": "localhost",
                                                       "content-type": "application/json"}, body))
    write("sigv4", "signed_with_token", sign("GET", "/identitypools", "",
                                              {"host": "localhost",
                                               "x-amz-security-token": "bm90LWEtdG9rZW4"}, b""))
    write("sigv4", "unsigned", "GET /identitypools\nhost: localhost\n\n")
    write("sigv4", "presigned",
          "GET /identitypools?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
          f"{ACCESS_KEY}%2F20260101%2Fus-east-1%2Fcognito-sync%2Faws4_request&X-Amz-Date="
          f"{AMZ_DATE}&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=00\n"
          "host: localhost\n\n")
    write("sigv4", "doubled_auth",
          "GET /identitypools\nhost: localhost\nauthorization: AWS4-HMAC-SHA256 "
          "Credential=a/b/c/d/e\nauthorization: AWS4-HMAC-SHA256 Credential=x\n"
          f"x-amz-date: {AMZ_DATE}\n\n")
    write("sigv4", "truncated_credential",
          f"GET /\nauthorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101, "
          f"SignedHeaders=host, Signature=zz\nx-amz-date: {AMZ_DATE}\n\n")


ROUTES = [
    "GET /identitypools/{p}/identities/{i}/datasets",
    "GET /identitypools/{p}/identities/{i}/datasets/ds",
    "DELETE /identitypools/{p}/identities/{i}/datasets/ds",
    "GET /identitypools/{p}/identities/{i}/datasets/ds/records?maxResults=2&nextToken=x",
    "POST /identitypools/{p}/identities/{i}/datasets/ds",
    "GET /identitypools/{p}/identities/{i}",
    "GET /identitypools/{p}",
    "GET /identitypools",
    "POST /identitypools/{p}/bulkpublish",
    "POST /identitypools/{p}/getBulkPublishDetails",
    "GET /identitypools/{p}/events",
    "POST /identitypools/{p}/events",
    "GET /identitypools/{p}/configuration",
    "POST /identitypools/{p}/configuration",
    "POST /identitypools/{p}/identity/{i}/device",
    "POST /identitypools/{p}/identities/{i}/datasets/ds/subscriptions/dev1",
    "DELETE /identitypools/{p}/identities/{i}/datasets/ds/subscriptions/dev1",
    "GET /identitypools/{p}/identities/{i}/datasets/..%2F..%2Fetc",
    "GET /identitypools/%2e%2e/identities/%2F/datasets/%C3%28",
]


def router_seeds():
    for n, r in enumerate(ROUTES):
        write("router", f"route{n:02}", r.format(p=POOL, i=IDENT))


SYNC = {
    "list_records": "GET /identitypools/POOL/identities/IDENTITY/datasets/ds/records?lastSyncCount=0&maxResults=5\n",
    "update": 'POST /identitypools/POOL/identities/IDENTITY/datasets/ds\n'
              '{"SyncSessionToken":"TOKEN","DeviceId":"d1","RecordPatches":['
              '{"Op":"replace","Key":"k","Value":"v","SyncCount":0,"DeviceLastModifiedDate":1.5e9},'
              '{"Op":"remove","Key":"gone","SyncCount":0}]}',
    "update_as_identity": '!POST /identitypools/POOL/identities/IDENTITY/datasets/ds\n'
                          '{"SyncSessionToken":"TOKEN","RecordPatches":[{"Op":"replace","Key":"a","Value":"b","SyncCount":0}]}',
    "update_dup_keys": 'POST /identitypools/POOL/identities/IDENTITY/datasets/ds\n'
                       '{"SyncSessionToken":"TOKEN","RecordPatches":[{"Op":"replace","Key":"k","Value":"1","SyncCount":0},'
                       '{"Op":"replace","Key":"k","Value":"2","SyncCount":0}]}',
    "update_bad_types": 'POST /identitypools/POOL/identities/IDENTITY/datasets/ds\n'
                        '{"SyncSessionToken":7,"RecordPatches":{"Op":null}}',
    "update_huge_numbers": 'POST /identitypools/POOL/identities/IDENTITY/datasets/ds\n'
                           '{"SyncSessionToken":"TOKEN","RecordPatches":[{"Op":"replace","Key":"k","Value":"v",'
                           '"SyncCount":99999999999999999999999,"DeviceLastModifiedDate":1e308}]}',
    "describe": "GET /identitypools/POOL/identities/IDENTITY/datasets/ds\n",
    "delete": "DELETE /identitypools/POOL/identities/IDENTITY/datasets/ds\n",
    "list_datasets": "GET /identitypools/POOL/identities/IDENTITY/datasets?maxResults=-1\n",
    "identity_usage": "GET /identitypools/POOL/identities/IDENTITY\n",
    "pool_usage": "GET /identitypools/POOL\n",
    "list_pool_usage": "GET /identitypools?maxResults=60&nextToken=zz\n",
    "bulk_publish": "POST /identitypools/POOL/bulkpublish\n",
    "bulk_details": "POST /identitypools/POOL/getBulkPublishDetails\n{}",
    "get_events": "GET /identitypools/POOL/events\n",
    "set_events": 'POST /identitypools/POOL/events\n{"Events":{"SyncTrigger":"arn:aws:lambda:us-east-1:1:function:f"}}',
    "get_config": "GET /identitypools/POOL/configuration\n",
    "set_config": 'POST /identitypools/POOL/configuration\n'
                  '{"PushSync":{"ApplicationArns":["arn:aws:sns:us-east-1:1:app/GCM/a"],"RoleArn":"arn:aws:iam::1:role/r"},'
                  '"CognitoStreams":{"StreamName":"s","RoleArn":"arn:aws:iam::1:role/r","StreamingStatus":"ENABLED"}}',
    "register_device": '!POST /identitypools/POOL/identity/IDENTITY/device\n{"Platform":"GCM","Token":"t"}',
    "subscribe": "!POST /identitypools/POOL/identities/IDENTITY/datasets/ds/subscriptions/dev\n",
    "unsubscribe": "!DELETE /identitypools/POOL/identities/IDENTITY/datasets/ds/subscriptions/dev\n",
}

IDENTITY = {
    "create_pool": 'CreateIdentityPool\n{"IdentityPoolName":"p","AllowUnauthenticatedIdentities":true,'
                   '"DeveloperProviderName":"dev","SupportedLoginProviders":{"graph.facebook.com":"1"}}',
    "get_id": 'GetId\n{"IdentityPoolId":"POOL","Logins":{"graph.facebook.com":"x"}}',
    "credentials": 'GetCredentialsForIdentity\n{"IdentityId":"IDENTITY"}',
    "open_id": 'GetOpenIdToken\n{"IdentityId":"IDENTITY","Logins":{}}',
    "dev_token": 'GetOpenIdTokenForDeveloperIdentity\n{"IdentityPoolId":"POOL","Logins":{"dev":"user1"},"TokenDuration":60}',
    "lookup": 'LookupDeveloperIdentity\n{"IdentityPoolId":"POOL","DeveloperUserIdentifier":"user1","MaxResults":5}',
    "merge": 'MergeDeveloperIdentities\n{"IdentityPoolId":"POOL","SourceUserIdentifier":"a","DestinationUserIdentifier":"b","DeveloperProviderName":"dev"}',
    "list_identities": 'ListIdentities\n{"IdentityPoolId":"POOL","MaxResults":0}',
    "list_pools": 'ListIdentityPools\n{"MaxResults":60,"NextToken":"junk"}',
    "describe_identity": 'DescribeIdentity\n{"IdentityId":"IDENTITY"}',
    "describe_pool": 'DescribeIdentityPool\n{"IdentityPoolId":"POOL"}',
    "update_pool": 'UpdateIdentityPool\n{"IdentityPoolId":"POOL","IdentityPoolName":"q","AllowUnauthenticatedIdentities":false}',
    "delete_identities": 'DeleteIdentities\n{"IdentityIdsToDelete":["IDENTITY","us-east-1:nope"]}',
    "unlink_dev": 'UnlinkDeveloperIdentity\n{"IdentityId":"IDENTITY","IdentityPoolId":"POOL","DeveloperProviderName":"dev","DeveloperUserIdentifier":"u"}',
    "unknown": 'NoSuchOperation\n{}',
    "not_json": 'GetId\n{"IdentityPoolId":',
}


def body_seeds():
    for name, text in SYNC.items():
        write("sync_request", name, text)
    for name, text in IDENTITY.items():
        write("identity_request", name, text)
    write("sync_request", "invalid_utf8",
          b'POST /identitypools/POOL/identities/IDENTITY/datasets/ds\n{"SyncSessionToken":"\xff\xfe"}')


if __name__ == "__main__":
    sigv4_seeds()
    router_seeds()
    body_seeds()
