// A self-signed certificate for the simulated rig's HTTPS listener (loopback
// tests only; CN proto-rig.sim.invalid, EC P-256, valid to 2126): real rigs serve
// self-signed certificates too, so the driver does not verify them.

export const SIM_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgs3uAyUJOYn0zoEvF
4Zbv+Dru/e1+crnMBc7gVjyO9AmhRANCAARWe5+agw5+JI4vsIyu43s1U/mhb+VS
8oNlhJ9cKGigzs1aLp+f0iN/RPQZdtP161f5r+0rnXRdpaLZupWauXYm
-----END PRIVATE KEY-----`;

export const SIM_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUR/vUhsFBIDmwSxQZerD5fxSkrmUwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVcHJvdG8tcmlnLnNpbS5pbnZhbGlkMCAXDTI2MTIwNDIwMzQx
NFoYDzIxMjYxMTEwMjAzNDE0WjAgMR4wHAYDVQQDDBVwcm90by1yaWcuc2ltLmlu
dmFsaWQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARWe5+agw5+JI4vsIyu43s1
U/mhb+VS8oNlhJ9cKGigzs1aLp+f0iN/RPQZdtP161f5r+0rnXRdpaLZupWauXYm
o1MwUTAdBgNVHQ4EFgQU0wl5SlEAAiPZgfBDbcXW+8+LzIAwHwYDVR0jBBgwFoAU
0wl5SlEAAiPZgfBDbcXW+8+LzIAwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiAix7EeabHjJwPncabg+r5lS8asXh8WR+Foppq2jXg0LAIhAPdG4K2Y
c4/o1MKSYazyA4Tpb/iyWgeK80i9fz/d3uA3
-----END CERTIFICATE-----`;
