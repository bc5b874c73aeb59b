// The tables as both migration folders create them.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        username_key -> Text,
        password_hash -> Text,
        email -> Text,
        is_active -> Bool,
        is_admin -> Bool,
        is_service -> Bool,
        created_at -> BigInt,
        last_login_at -> Nullable<BigInt>,
        totp_secret -> Nullable<Binary>,
        two_factor -> Bool,
        totp_last_step -> Nullable<BigInt>,
        email_verified -> Bool,
        email_changes -> BigInt,
    }
}

diesel::table! {
    tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        client -> Text,
        digest -> Binary,
        created_at -> BigInt,
        last_used_at -> BigInt,
        expires_at -> BigInt,
        user_agent -> Nullable<Text>,
        scopes -> Text,
        via -> Text,
        last_ip -> Nullable<Text>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::joinable!(tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, tokens);

diesel::table! {
    secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    login_failures (scope) {
        scope -> Text,
        window_start -> BigInt,
        failures -> BigInt,
    }
}

diesel::table! {
    identities (id) {
        id -> BigInt,
        provider -> Text,
        subject -> Text,
        user_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::joinable!(identities -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, identities);

diesel::table! {
    recovery_codes (user_id, digest) {
        user_id -> BigInt,
        digest -> Binary,
    }
}

diesel::joinable!(recovery_codes -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, recovery_codes);

diesel::table! {
    console_sessions (id) {
        id -> BigInt,
        digest -> Binary,
        user_id -> BigInt,
        created_at -> BigInt,
        last_seen_at -> BigInt,
    }
}

diesel::joinable!(console_sessions -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, console_sessions);

diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        kind -> Text,
        sealed -> Binary,
        created_at -> BigInt,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> BigInt,
        kid -> Text,
        public_key -> Binary,
        encrypted_private_key -> Binary,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        at -> BigInt,
        kind -> Text,
        user_id -> Nullable<BigInt>,
        client -> Nullable<Text>,
        actor -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Nullable<Text>,
        sid -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_outbox (id) {
        id -> BigInt,
        event_id -> BigInt,
        receiver -> Text,
        body -> Text,
        created_at -> BigInt,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
    }
}

diesel::table! {
    used_id_tokens (digest) {
        digest -> Binary,
        expires_at -> BigInt,
    }
}

diesel::table! {
    retired_keys (digest) {
        digest -> Binary,
        token_id -> BigInt,
        signed_in_at -> BigInt,
        retired_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(retired_keys, tokens);
diesel::allow_tables_to_appear_in_same_query!(retired_keys, users);

diesel::table! {
    used_dpop_proofs (digest) {
        digest -> Binary,
        expires_at -> BigInt,
    }
}

diesel::table! {
    device_grants (id) {
        id -> BigInt,
        device_code_digest -> Binary,
        user_code_digest -> Binary,
        client -> Text,
        scopes -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        poll_interval -> BigInt,
        last_poll_at -> Nullable<BigInt>,
        state -> Text,
        approver_id -> Nullable<BigInt>,
        approved_scopes -> Nullable<Text>,
    }
}
