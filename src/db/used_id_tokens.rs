//! Queries on `used_id_tokens`: the ID tokens that signed someone in with
//! an OpenID Connect provider, by digest, so that each signs in once on
//! every instance.

super::used_once::used_once_table!(used_id_tokens);
