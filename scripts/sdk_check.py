#!/usr/bin/env python3
"""Drive a running `cdn-unblock simulate` with the official Tencent Cloud Python SDK.

Not part of CI (it needs PyPI): a cross-check that the simulator accepts what
the official SDK sends and refuses what the real API refuses.

    python3 -m venv /tmp/sdk && /tmp/sdk/bin/pip install tencentcloud-sdk-python-common
    cdn-unblock simulate --listen 127.0.0.1:9100 --token T &
    /tmp/sdk/bin/python scripts/sdk_check.py 9100 T
"""
import json
import sys
import time

from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

PORT = sys.argv[1]
TOKEN = sys.argv[2] if len(sys.argv) > 2 else None


def client(sid="AKIDsimulator", key="simulator-secret", token=TOKEN):
    cred = credential.Credential(sid, key, token) if token else credential.Credential(sid, key)
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=f"127.0.0.1:{PORT}", reqTimeout=10))
    return CommonClient("cdn", "2018-06-06", cred, "", profile=profile)


def call(c, params):
    try:
        return "ok", c.call_json("EnableCaches", params)
    except TencentCloudSDKException as e:
        return e.code, e.message


failures = 0


def expect(name, got, want):
    global failures
    status = "PASS" if got[0] == want else "FAIL"
    failures += status == "FAIL"
    print(f"{status} {name}: {got[0]} {json.dumps(got[1])[:160]}")


def wait_for_a_fresh_window():
    time.sleep(1.1)


got = call(client(), {"Urls": ["https://a.example.com/x.jpg", "http://b.example.com/__fail__/y"], "Date": "2021-06-01"})
expect("right credentials", got, "ok")
r = got[1]["Response"] if got[0] == "ok" else {}
assert r.get("CacheOptResult", {}).get("SuccessUrls") == ["https://a.example.com/x.jpg"], r
assert r.get("CacheOptResult", {}).get("FailUrls") == ["http://b.example.com/__fail__/y"], r
assert r.get("TaskId") and r.get("RequestId"), r
expect("wrong key", call(client(key="nope"), {"Urls": ["https://a/x"]}), "AuthFailure.SignatureFailure")
expect("unknown SecretId", call(client(sid="AKIDother"), {"Urls": ["https://a/x"]}), "AuthFailure.SecretIdNotFound")
expect("101 URLs", call(client(), {"Urls": ["https://a/%d" % i for i in range(101)]}), "InvalidParameter.CdnParamError")
expect("URL without a scheme", call(client(), {"Urls": ["a.example.com/x"]}), "InvalidParameter.CdnParamError")
expect("unknown parameter", call(client(), {"Urls": ["https://a/x"], "Foo": 1}), "UnknownParameter")
expect("rejected domain", call(client(), {"Urls": ["https://a/x", "https://__reject__.example/y"]}), "ResourceNotFound.CdnHostNotExists")
if TOKEN:
    expect("wrong token", call(client(token="wrong"), {"Urls": ["https://a/x"]}), "AuthFailure.TokenFailure")
    expect("missing token", call(client(token=None), {"Urls": ["https://a/x"]}), "AuthFailure.TokenFailure")
real_time = time.time
time.time = lambda: real_time() - 400
expect("clock 400 s behind", call(client(), {"Urls": ["https://a/x"]}), "AuthFailure.SignatureExpire")
time.time = real_time

wait_for_a_fresh_window()
c = client()
codes = [call(c, {"Urls": ["https://a.example.com/%d" % i]})[0] for i in range(45)]
ok = codes.count("ok")
throttled = codes.count("UnauthorizedOperation.OperationTooOften") + codes.count("RequestLimitExceeded")
print(f"{'PASS' if ok == 40 and throttled == 5 else 'FAIL'} 45 calls within a second: {ok} ok, {throttled} throttled")
failures += not (ok == 40 and throttled == 5)
sys.exit(1 if failures else 0)
