//! A Django project's database as the importer finds it.

/// Django 5.2's tables as `migrate` makes them on SQLite, the columns the
/// import reads and the ones beside them.
pub const DJANGO_SCHEMA: &str = r#"
CREATE TABLE "django_migrations" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "app" varchar(255) NOT NULL, "name" varchar(255) NOT NULL, "applied" datetime NOT NULL);
CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL);
CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE "rest_framework_multitoken_multitoken" ("key" varchar(40) NOT NULL PRIMARY KEY, "is_active" bool NOT NULL, "created" datetime NOT NULL, "user_id" integer NOT NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX "rest_framework_multitoken_multitoken_user_id" ON "rest_framework_multitoken_multitoken" ("user_id");
CREATE TABLE "knox_authtoken" ("digest" varchar(128) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED, "expiry" datetime NULL, "token_key" varchar(25) NOT NULL);
CREATE INDEX "knox_authtoken_user_id" ON "knox_authtoken" ("user_id");
"#;
