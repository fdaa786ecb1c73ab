"""Expression values checked against haproxy 2.6.12 (Debian 12 package).

How they were obtained: each expression was put in a ``mode http`` frontend as
``http-request return status 200 content-type text/plain lf-string '[%[EXPR]]'
if { req.hdr(x-t) -m str N } { EXPR -m found }`` followed by a ``string MISSING``
rule, haproxy was started with ``-db`` and sent the request of
``streamkit.http_stream()`` (plus the X-T selector) from 127.0.0.1; the body
gave the value, or None for MISSING.  Differences that belong to the HTTP layer
(haproxy drops ``Connection`` and %-encodes CR/LF in lf-string) are already
accounted for: the header counts here are haproxy's minus the X-T header.
``HAPROXY_VAR_VALUES`` were taken the same way after ``http-request set-var``
rules setting ``VARIABLES`` (in that order).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from luaproxy.worker.samples import PatternLibrary, SampleRegistry, parse_expr, to_text
from tests.samples.streamkit import HAPROXY_HEADERS, Proxy, Server, Stream, http_stream

MAP_FILES = {
    "s.map": (
        "# comment\n/a x\n/ab y\n   /abc   z with  spaces  \t\n #k hashkey\n"
        "dup 1\ndup 2\nFoo bar\nexample 10\n.com 20\n/dir dirval\n"
    ),
    "r.map": "^/d(.)r/(.*)$ R:\\1:\\2\npage P\n",
    "i.map": "1 one\n5:10 five-ten\n:0 nonpos\n20: big\n33 1.2.3.4\n",
    "ii.map": "33 1.2.3.4\n1:5 ::1\n",
    "n.map": "example 10\n.com 20\n",
    "ip2.map": (
        "10.0.0.0/8 net8\n10.1.0.0/16 net16\n10.1.2.3 host\n127.0.0.0/8 7\n::1 v6\n"
        "2001:db8::/32 doc\n10.2.0.0/255.0.255.0 noncontig\n"
    ),
}

HAPROXY_VALUES = [
    ("req.hdr(x-a)", "a3"),
    ("req.hdr(x-a,1)", "a1"),
    ("req.hdr(x-a,2)", "a2"),
    ("req.hdr(x-a,-1)", "a3"),
    ("req.hdr(x-a,-2)", "a2"),
    ("req.hdr(x-a,9)", None),
    ("req.hdr(x-a,-9)", None),
    ("req.fhdr(x-a)", "a3"),
    ("req.fhdr(x-a,1)", "a1, a2"),
    ("req.fhdr(x-a,-2)", "a1, a2"),
    ("req.hdr_cnt(x-a)", "3"),
    ("req.fhdr_cnt(x-a)", "2"),
    ("req.hdr_cnt", "11"),
    ("req.fhdr_cnt", "8"),
    ("hdr(x-a)", "a3"),
    ("req.hdr", None),
    ("req.hdr_val(x-n)", "42"),
    ("req.hdr_ip(x-ip)", "10.1.2.3"),
    ("req.hdr_names", "host,x-a,x-a,x-n,x-ip,cookie,authorization,accept-language"),
    ("req.hdr_names(;)", "host;x-a;x-a;x-n;x-ip;cookie;authorization;accept-language"),
    ("req.cook(a)", "3"),
    ("req.cook(b)", "2"),
    ("req.cook", "1"),
    ("req.cook_cnt(a)", "2"),
    ("req.cook_cnt", "4"),
    ("req.cook_val(n)", "7"),
    ("req.cook(zz)", None),
    ("method", "GET"),
    ("path", "/dir/page.html"),
    ("pathq", "/dir/page.html?k=v;x=1&j=2&n=33"),
    ("query", "k=v;x=1&j=2&n=33"),
    ("url", "/dir/page.html?k=v;x=1&j=2&n=33"),
    ("base", "example.com/dir/page.html"),
    ("baseq", "example.com/dir/page.html?k=v;x=1&j=2&n=33"),
    ("base32", "11165885"),
    ("url32", "2831711273"),
    ("url_param(k)", "v"),
    ("url_param(j)", "2"),
    ("url_param", "v"),
    ("urlp(x,;)", "1"),
    ("urlp(x)", "1"),
    ("urlp(k,&)", None),
    ("url_param(n,;)", "33"),
    ("urlp_val(n)", "33"),
    ("url_port", None),
    ("url_ip", None),
    ("req.ver", "1.1"),
    (
        "req.hdrs",
        "host: example.com\r\nx-a: a1, a2\r\nx-a: a3\r\nx-n: 42\r\nx-ip: 10.1.2.3:80\r\n"
        "cookie: a=1; b=2; a=3; n=7\r\nauthorization: Basic dTpw\r\n"
        "accept-language: fr-CH, fr;q=0.9, en;q=0.8\r\n\r\n",
    ),
    ("http_auth_user", "u"),
    ("http_auth_pass", "p"),
    ("http_auth_type", "Basic"),
    ("req.proto_http", "1"),
    ("int(5),neg", "-5"),
    ("int(5),cpl", "-6"),
    ("int(6),and(3)", "2"),
    ("int(6),or(3)", "7"),
    ("int(6),xor(3)", "5"),
    ("int(6),not", "0"),
    ("int(0),not", "1"),
    ("int(6),bool", "1"),
    ("int(6),even", "1"),
    ("int(6),odd", "0"),
    ("str(abc),bool", "0"),
    ("bool(1),add(1)", "2"),
    ("ipv4(1.2.3.4),add(1)", "16909061"),
    ("int(16909060),ipmask(24)", "1.2.3.0"),
    ("str(1.2.3.4),ipmask(24)", "1.2.3.0"),
    ("str(1.2.3.4),ipmask(255.0.255.0)", "1.0.3.0"),
    ("str(2001:db8::1),ipmask(24,64)", "2001:db8::"),
    ("str(2001:db8::1),ipmask(24)", None),
    ("str(::ffff:1.2.3.4),ipmask(24)", "1.2.3.0"),
    ("str(2002:102:304::),ipmask(24)", None),
    ("str(::1.2.3.4),ipmask(24)", None),
    ("int(9223372036854775807),add(1)", "9223372036854775807"),
    ("int(9223372036854775807),mul(2)", "9223372036854775807"),
    ("int(-9223372036854775807),sub(5)", "-9223372036854775808"),
    ("int(-9223372036854775807),mul(3)", "-9223372036854775808"),
    ("int(-9223372036854775807),neg", "9223372036854775807"),
    ("int(-7),div(2)", "-3"),
    ("int(-7),mod(2)", "-1"),
    ("int(7),mod(-2)", "1"),
    ("int(7),div(-2)", "-3"),
    ("int(3),div(0)", "9223372036854775807"),
    ("int(3),mod(0)", "0"),
    ("str(hello),bytes(1,2)", "el"),
    ("str(hello),bytes(3)", "lo"),
    ("str(hello),bytes(9)", ""),
    ("str(hello),bytes(1,9)", "ello"),
    ("str(hello),bytes(5)", ""),
    ("str(a%20b+c),url_dec", "a b+c"),
    ("str(a%20b+c),url_dec(1)", "a b c"),
    ("str(/p?a+b),url_dec", "/p?a b"),
    ("str(a%2),url_dec", None),
    ("str(a%zz),url_dec", None),
    ("ipv4(1.2.3.4),hex", "01020304"),
    ("int(258),hex", "0000000000000102"),
    ("str(ff),hex2i", "255"),
    ("str(zz),hex2i", None),
    ("str(),hex2i", "0"),
    ("str(-ff),hex2i", None),
    ("str(FFFFFFFFFFFFFFFF),hex2i", "-1"),
    ("str(10000000000000000),hex2i", "0"),
    ("int(-1),hex", "FFFFFFFFFFFFFFFF"),
    ("bool(1),hex", "0000000000000001"),
    ("str(AbC),lower", "abc"),
    ("str(AbC),upper", "ABC"),
    ("int(1),lower", "1"),
    ("ipv4(1.2.3.4),lower", "1.2.3.4"),
    ("ipv6(::1)", "::1"),
    ("ipv6(::ffff:1.2.3.4)", "::ffff:1.2.3.4"),
    ("int(1234567890),utime(%Y-%m-%d)", "2009-02-13"),
    ("int(1234567890),http_date", "Fri, 13 Feb 2009 23:31:30 GMT"),
    ("int(1234567890),http_date(10)", "Fri, 13 Feb 2009 23:31:40 GMT"),
    ("int(1234567890123),http_date(0,ms)", "Fri, 13 Feb 2009 23:31:30.123 GMT"),
    ("int(1234567890123456),http_date(0,us)", "Fri, 13 Feb 2009 23:31:30.123456 GMT"),
    ("str(q),concat(a,txn.x,b)", "qab"),
    ("str(q),concat(,,b)", "qb"),
    ("str(q),concat", "q"),
    ("str(hello),bytes(-1)", ""),
    ("str(a),field(3,_)", None),
    ("str(a_b),field(-3,_)", None),
    ("str(f1_f2_f3__f5),field(5,_)", "f5"),
    ("str(f1_f2_f3__f5),field(2,_,0)", "f2_f3__f5"),
    ("str(f1_f2_f3__f5),field(2,_,2)", "f2_f3"),
    ("str(f1_f2_f3__f5),field(-2,_,3)", "f2_f3_"),
    ("str(f1_f2_f3__f5),field(-3,_,0)", "f1_f2_f3"),
    ("str(f1_f2_f3__f5),field(4,_)", ""),
    ("str(f1_f2_f3__f5),field(6,_)", None),
    ("str(f1_f2_f3__f5),field(-5,_)", "f1"),
    ("str(f1_f2_f3__f5),field(-6,_)", None),
    ("str(f1_f2_f3__f5),field(1,_,9)", "f1_f2_f3__f5"),
    ("str(f1_f2_f3__f5),word(4,_)", "f5"),
    ("str(f1_f2_f3__f5),word(2,_,0)", "f2_f3__f5"),
    ("str(f1_f2_f3__f5),word(3,_,2)", "f3__f5"),
    ("str(f1_f2_f3__f5),word(-2,_,3)", "f1_f2_f3"),
    ("str(f1_f2_f3__f5),word(-3,_,0)", "f1_f2"),
    ("str(f1_f2_f3__f5),word(5,_)", ""),
    ("str(f1_f2_f3__f5),word(-5,_)", ""),
    ("str(/f1/f2/f3/f4),word(1,/)", "f1"),
    ("str(/f1/f2/f3/f4),word(9,/)", ""),
    ("str(/f1/f2/f3/f4),word(-1,/)", "f4"),
    ("str(_a__b_),word(2,_)", "b"),
    ("str(_a__b_),word(-1,_)", "b"),
    ("str(a.b:c),field(2,.:)", "b"),
    ("str(x),language(es;fr)", None),
    ("str(x),language(es;fr,en)", "en"),
    ("req.fhdr(accept-language),language(de;en)", "en"),
    ("req.fhdr(accept-language),language(fr;en)", "fr"),
    ("req.fhdr(accept-language),language(fr-CH;en)", "fr-CH"),
    ("req.fhdr(accept-language),language(en)", "en"),
    ("req.fhdr(accept-language),language(fr-ch;en)", "en"),
    ("str(abc),json", "abc"),
    ("str(abc),regsub(b,X)", "aXc"),
    ("str(abcabc),regsub(b,X)", "aXcabc"),
    ("str(abcabc),regsub(b,X,g)", "aXcaXc"),
    ("str(aBcAbc),regsub(b,X,gi)", "aXcAXc"),
    ("str(abc),regsub(^,X,g)", "Xabc"),
    ("str(abc),regsub(x*,-,g)", "-a-b-c-"),
    ("str(abc),ltrim(a)", "bc"),
    ("str(abca),rtrim(a)", "abc"),
    ("str(abc),cut_crlf", "abc"),
    ("str(Example.COM:8080),host_only", "example.com"),
    ("str(example.com),port_only", "0"),
    ("str(example.com:81),port_only", "81"),
    ("int(5),htonl,hex", "00000005"),
    ("bin(01020304050607),be2dec(:,2)", "258:772:1286:7"),
    ("bin(01020304050607),be2dec(-,2,1)", "258-772-1286"),
    ("bin(7f000001),be2dec(.,1)", "127.0.0.1"),
    ("bin(01020304050607),be2hex", "01020304050607"),
    ("bin(01020304050607),be2hex(:,2)", "0102:0304:0506:07"),
    ("bin(01020304050607),be2hex(--,2,1)", "0102--0304--0506"),
    ("str(abc),base64", "YWJj"),
    ("str(YWJj),b64dec", "abc"),
    ("str(YW),b64dec", None),
    ("str(YWJjZA),ub64dec", "abcd"),
    ("str(abcd),ub64enc", "YWJjZA"),
    ("str(a),sha1,hex", "86F7E437FAA5A7FCE15D1DDCB9EAEAEA377667B8"),
    ("str(a),sha2,hex", "CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB"),
    ("str(a),sha2(224),hex", "ABD37534C7D9A2EFB9465DE931CD7055FFDB8879563AE98078D6D6D5"),
    (
        "str(a),sha2(384),hex",
        "54A59B9F22B0B80880D8427E548B7C23ABD873486E1F035DCE9CD697E85175033CAA88E6D57BC35EFAE0B5AFD3145F31",
    ),
    (
        "str(a),sha2(512),hex",
        "1F40FC92DA241694750979EE6CF582F2D5D7D28E18335DE05ABC54D0560E0F5302860C652BF08D560252AA5E74210546F369FBBBCE8C12CFC7957B2652FE9A75",
    ),
    ("str(abc),digest(md5),hex", "900150983CD24FB0D6963F7D28E17F72"),
    ("str(abc),hmac(sha1,a2V5),hex", "4FD0B215276EF12F2B3E4C8ECAC2811498B656FC"),
    ("str(abc),djb2", "193485963"),
    ("str(abc),sdbm", "807794786"),
    ("str(abc),wt6", "2483038440"),
    ("str(abc),crc32", "891568578"),
    ("str(abc),crc32c", "910901175"),
    ("str(abc),djb2(1)", "2235766107"),
    ("str(abc),sdbm(1)", "659243622"),
    ("str(abc),wt6(1)", "266135527"),
    ("str(abc),crc32(1)", "930845320"),
    ("str(abc),crc32c(1)", "1285784220"),
    ("str(/index.html),wt6", "822151038"),
    ("str(/index.html),wt6(1)", "2986733765"),
    ("str(www.example.com),djb2", "2843247409"),
    ("str(www.example.com),sdbm", "2718216582"),
    ("str(www.example.com),crc32", "785793723"),
    ("int(1),djb2", "2075347462"),
    ("ipv4(1.2.3.4),djb2", "2086511823"),
    ("ipv6(::1),crc32", "2612820931"),
    ("str(abc),length", "3"),
    ("str(abc),iif(a,b)", "b"),
    ("int(1),iif(a,b)", "a"),
    ("always_false,iif(a,b)", "b"),
    ("str(abc),strcmp(txn.nope)", None),
    ("str(a),url_enc", "a"),
    ("str(a/b c~d),url_enc", "a%2Fb%20c~d"),
    ("str(12abc),add(1)", "13"),
    ("str(-12),add(1)", "-11"),
    ("str(),add(1)", None),
    ("str(+12),add(1)", "13"),
    ("str(99999999999999999999),add(0)", "9223372036854775807"),
    ("str(abc),bool", "0"),
    ("bin(3132),hex", "3132"),
    ("bin(41420043),lower", "ab"),
    ("bin(41420043),length", "2"),
    ("meth(GET),lower", "get"),
    ("meth(FOO)", "FOO"),
    ("str(GET),upper", "GET"),
    ("always_true,add(1)", "2"),
    ("bool(true)", "1"),
    ("bool(0)", "0"),
    ("str", ""),
    ("str()", ""),
    ("env(NOPE_NOT_SET)", None),
    ("thread", "0"),
    ("wait_end", "1"),
    ("var(txn.nope)", None),
    ("var(txn.nope,dflt)", "dflt"),
    ("path,map(s.map)", None),
    ("path,map(s.map,NONE)", "NONE"),
    ("path,map_str(s.map,NONE)", "NONE"),
    ("str(/ab),map(s.map)", "y"),
    ("str(dup),map(s.map)", "1"),
    ("str(/abc),map(s.map)", "z with  spaces"),
    ("str(foo),map(s.map,D)", "D"),
    ("str(Foo),map(s.map,D)", "bar"),
    ("path,map_beg(s.map,NONE)", "dirval"),
    ("str(/abx),map_beg(s.map,NONE)", "y"),
    ("str(/b),map_beg(s.map,NONE)", "NONE"),
    ("path,map_sub(s.map,NONE)", "dirval"),
    ("str(xxduplicate),map_sub(s.map,NONE)", "1"),
    ("path,map_dir(s.map,NONE)", "dirval"),
    ("str(a.example.com),map_dom(s.map,NONE)", "x"),
    ("str(www.example.org),map_dom(s.map,NONE)", "10"),
    ("str(zzz.com),map_end(s.map,NONE)", "20"),
    ("str(www.example),map_end(s.map,NONE)", "10"),
    ("path,map_reg(r.map,NONE)", "R:\\1:\\2"),
    ("path,map_regm(r.map,NONE)", "R:i:page.html"),
    ("str(xpagex),map_regm(r.map,NONE)", "P"),
    ("str(zz),map_regm(r.map,NONE)", "NONE"),
    ("str(example),map_str_int(n.map)", "10"),
    ("str(.com),map_end_int(n.map,0)", "20"),
    ("str(nomatch),map_str_int(n.map,7)", "7"),
    ("int(7),map_int(i.map)", "five-ten"),
    ("int(1),map_int(i.map)", "one"),
    ("int(-3),map_int(i.map)", "nonpos"),
    ("int(30),map_int(i.map)", "big"),
    ("int(15),map_int(i.map,NONE)", "NONE"),
    ("str(7),map_int(i.map)", "five-ten"),
    ("int(33),map_int_ip(ii.map)", "1.2.3.4"),
    ("int(1),map_int_ip(ii.map,1.1.1.1)", "::1"),
    ("str(10.1.2.3),map_ip(ip2.map)", "host"),
    ("str(10.1.9.9),map_ip(ip2.map)", "net16"),
    ("str(10.9.9.9),map_ip(ip2.map)", "net8"),
    ("str(10.3.0.9),map_ip(ip2.map)", "net8"),
    ("str(11.2.0.9),map_ip(ip2.map,NONE)", "NONE"),
    ("str(::ffff:10.1.2.3),map_ip(ip2.map)", "host"),
    ("str(::10.1.2.3),map_ip(ip2.map)", "host"),
    ("str(2001:db8::5),map_ip(ip2.map)", "doc"),
    ("str(::1),map_ip(ip2.map)", "v6"),
    ("str(::2),map_ip(ip2.map,NONE)", "NONE"),
    ("src,map_ip(ip2.map)", "7"),
    ("int(167838211),map_ip(ip2.map)", "host"),
    ("str(1.2.3.4),map_str_ip(ii.map,9.9.9.9)", "9.9.9.9"),
    ("str(33),map_str_ip(ii.map)", "1.2.3.4"),
]


VARIABLES = [
    ("txn.k", "str(a2V5)"),
    ("sess.k", "str(a2V5)"),
    ("txn.bad", "str(a2V)"),
    ("txn.s", "str(abc)"),
    ("txn.b", "bin(61626300)"),
    ("txn.i", "int(5)"),
]

HAPROXY_VAR_VALUES = [
    ("str(abc),hmac(sha1,txn.k),hex", "4FD0B215276EF12F2B3E4C8ECAC2811498B656FC"),
    ("str(abc),hmac(sha1,sess.k),hex", "4FD0B215276EF12F2B3E4C8ECAC2811498B656FC"),
    ("str(abc),hmac(sha1,txn.nope),hex", None),
    ("str(abc),hmac(sha1,txn.bad),hex", None),
    ("str(abc),hmac(sha1,txnk),hex", "B6E1793D799AC808E20A47C9DA58D5A5E3EDA408"),
    ("str(abc),hmac(sha256,a2V5),hex", "9C196E32DC0175F86F4B1CB89289D6619DE6BEE699E4C378E68309ED97A1A6AB"),
    ("str(abc),secure_memcmp(txn.s)", "1"),
    ("str(abd),secure_memcmp(txn.s)", "0"),
    ("str(ab),secure_memcmp(txn.s)", "0"),
    ("str(abc),secure_memcmp(txn.nope)", None),
    ("bin(61626300),secure_memcmp(txn.b)", "1"),
    ("bin(61626300),secure_memcmp(txn.s)", "0"),
    ("int(5),secure_memcmp(txn.i)", "1"),
    ("str(5),secure_memcmp(txn.i)", "0"),
    ("str(abc),xxh32", "852579327"),
    ("str(abc),xxh32(1)", "2856167679"),
    ("str(abc),xxh64", "4952883123889572249"),
    ("str(abc),xxh64(1)", "-4708009277469325048"),
    ("str(abc),xxh3", "8696274497037089104"),
    ("str(abc),xxh3(1)", "7729416884403528232"),
    ("str(),xxh3", "3244421341483603138"),
    ("str(a),xxh3", "-1817709641818812897"),
    ("str(c),xxh3(5)", "-4618950124373755041"),
    ("str(a),xxh64", "-3292477735350538661"),
    ("str(a),xxh32(-1)", "3443684653"),
    ("str(a),xxh64(-1)", "6972758980737027682"),
    ("str(a),xxh3(-1)", "4875116479388997462"),
    ("int(1),xxh32", "4094994757"),
    ("ipv4(1.2.3.4),xxh32", "4271296924"),
]


BODY = b"a=1&b=x+y;B=2&&=z&c&d=%41&a=3"
HAPROXY_BODY_VALUES = [
    # The request above as a POST with BODY, haproxy bound with 'bind ... name foo'.
    ("req.body", "a=1&b=x+y;B=2&&=z&c&d=%41&a=3"),
    ("req.body_len", "29"),
    ("req.body_size", "29"),
    ("req.body_param(a)", "1"),
    ("req.body_param(b)", "x+y"),
    ("req.body_param(B)", "2"),
    ("req.body_param", "1"),
    ("req.body_param(c)", None),
    ("req.body_param(d)", "%41"),
    ("req.body_param(zz)", None),
    ("req.len", "249"),  # HAProxy's HTX size of this message: start line + 20, names and values, 1, body
    ("so_name", "foo"),
    ("so_id", "1"),
    ("last_rule_file", None),
    ("last_rule_line", None),
]

HAPROXY_SERVER_VALUES = [
    # With 'timeout client 7s' and 'backend be' holding s1 (weight 10 maxconn 5), s2 (disabled weight 3),
    # s3 (weight 0) and s4 (backup), as server_stream() builds.
    ("srv_iweight(be/s1)", "10"),
    ("srv_uweight(be/s1)", "10"),
    ("srv_weight(be/s1)", "10"),
    ("srv_iweight(be/s2)", "3"),
    ("srv_uweight(be/s2)", "3"),
    ("srv_weight(be/s2)", "3"),
    ("srv_weight(be/s3)", "0"),
    ("srv_is_up(be/s1)", "1"),
    ("srv_is_up(be/s2)", "0"),
    ("srv_is_up(be/s3)", "1"),
    ("srv_conn(be/s1)", "0"),
    ("srv_sess_rate(be/s1)", "0"),
    ("srv_conn_free(be/s1)", "5"),
    ("srv_conn_free(be/s4)", "-1"),
    ("be_conn_free(be)", "5"),
    ("srv_queue(be/s1)", "0"),
    ("srv_sess_rate(be/s1)", "0"),
    ("queue(be)", "0"),
    ("avg_queue(be)", "0"),
    ("fc_src", "127.0.0.1"),
    ("http_first_req", "1"),
    ("fe_client_timeout", "7000"),
    ("srv_weight(be/s4)", "1"),
    ("srv_iweight(be/s4)", "1"),
    ("srv_is_up(be/s4)", "1"),
    ("srv_conn_free(be/s2)", "-1"),
    ("srv_conn_free(be/s3)", "-1"),
    ("str(be/s1),srv_queue", "0"),
    ("str(s1),srv_queue", None),
    ("str(be/zz),srv_queue", None),
]

PARAMS_TARGET = "/p?c&d=1&e=&=z&f=%41"
HAPROXY_PARAM_VALUES = [
    # A POST to PARAMS_TARGET whose body is the query string after '?'.
    ("url_param(c)", None),
    ("url_param", "1"),
    ("url_param(e)", ""),
    ("url_param(d)", "1"),
    ("url_param(f)", "%41"),
    ("req.body_param(c)", None),
    ("req.body_param", "1"),
    ("req.body_param(e)", ""),
    ("req.body_param(f)", "%41"),
]


@pytest.fixture(scope="module")
def map_library(tmp_path_factory: pytest.TempPathFactory) -> PatternLibrary:
    base: Path = tmp_path_factory.mktemp("maps")
    for name, text in MAP_FILES.items():
        (base / name).write_text(text, encoding="latin-1")
    return PatternLibrary(str(base))


@pytest.mark.parametrize(("text", "expected"), HAPROXY_VALUES, ids=[t for t, _ in HAPROXY_VALUES])
def test_value_matches_haproxy(
    text: str, expected: str | None, registry: SampleRegistry, map_library: PatternLibrary
) -> None:
    ctx = http_stream()
    ctx.src = "127.0.0.1"
    assert to_text(parse_expr(text, registry, map_library).evaluate(ctx)) == expected


@pytest.mark.parametrize(("text", "expected"), HAPROXY_VAR_VALUES, ids=[t for t, _ in HAPROXY_VAR_VALUES])
def test_value_with_variables_matches_haproxy(
    text: str, expected: str | None, registry: SampleRegistry, map_library: PatternLibrary
) -> None:
    ctx = http_stream()
    for name, source in VARIABLES:
        value = parse_expr(source, registry, map_library).evaluate(ctx)
        assert value is not None
        ctx.vars.set(name, value)
    assert to_text(parse_expr(text, registry, map_library).evaluate(ctx)) == expected


@pytest.mark.parametrize(("text", "expected"), HAPROXY_BODY_VALUES, ids=[t for t, _ in HAPROXY_BODY_VALUES])
def test_body_value_matches_haproxy(text: str, expected: str | None, registry: SampleRegistry) -> None:
    ctx = http_stream(headers=[*HAPROXY_HEADERS, ("X-T", "0"), ("Content-Length", str(len(BODY)))])
    ctx.request.method = "POST"
    ctx.req_body = BODY
    ctx.frontend.bind_names = ["foo"]
    assert to_text(parse_expr(text, registry).evaluate(ctx)) == expected


@pytest.mark.parametrize(("text", "expected"), HAPROXY_PARAM_VALUES, ids=[t for t, _ in HAPROXY_PARAM_VALUES])
def test_param_value_matches_haproxy(text: str, expected: str | None, registry: SampleRegistry) -> None:
    ctx = http_stream(target=PARAMS_TARGET)
    ctx.req_body = PARAMS_TARGET.partition("?")[2].encode()
    assert to_text(parse_expr(text, registry).evaluate(ctx)) == expected


def test_nameless_parameter_answers_a_lookup_without_name(registry: SampleRegistry) -> None:
    """haproxy 2.6.12 gives 'z' for both on '/p?=z&c' with body '=z&c'."""
    ctx = http_stream(target="/p?=z&c")
    ctx.req_body = b"=z&c"
    assert to_text(parse_expr("url_param", registry).evaluate(ctx)) == "z"
    assert to_text(parse_expr("req.body_param", registry).evaluate(ctx)) == "z"


def server_stream() -> Stream:
    servers = [
        Server("s1", 1, True, 0, 5, weight=10, iweight=10),
        Server("s2", 2, False, 0, 0, weight=3, iweight=3, admin_state="MAINT"),
        Server("s3", 3, False, 0, 0, weight=0, iweight=0),
        Server("s4", 4, True, 0, 0, backup=True),
    ]
    be = Proxy("be", 3, 0, servers)
    ctx = http_stream()
    ctx.src = ctx.dst = "127.0.0.1"
    ctx.frontend.timeouts["client"] = 7.0
    ctx.proxies["be"] = be
    ctx.backend = ctx.server = None  # haproxy evaluated them in the frontend, before any backend
    return ctx


@pytest.mark.parametrize(("text", "expected"), HAPROXY_SERVER_VALUES, ids=[t for t, _ in HAPROXY_SERVER_VALUES])
def test_server_value_matches_haproxy(text: str, expected: str | None, registry: SampleRegistry) -> None:
    assert to_text(parse_expr(text, registry).evaluate(server_stream())) == expected
