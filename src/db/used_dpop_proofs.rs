//! Queries on `used_dpop_proofs`: the DPoP proofs accepted, by the digest
//! of their key's thumbprint and `jti`, so that each is accepted once on
//! every instance.

super::used_once::used_once_table!(used_dpop_proofs);
