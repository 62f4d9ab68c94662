"""Chart-of-accounts templates and the validation of uploaded charts.

Pure data, no database: a company starts from one of these templates (or from an uploaded chart that
`validate` accepted), and the ledger finds its control accounts — receivables, payables, bank, VAT,
retained earnings, exchange differences, rounding — by *kind*, never by a country's account number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum


class AccountType(StrEnum):
    """The five balance-sheet / profit-and-loss families; reports group by these."""

    asset = "asset"
    liability = "liability"
    equity = "equity"
    income = "income"
    expense = "expense"


class AccountKind(StrEnum):
    """What an account is *for*; the ledger picks control accounts by kind, so codes stay local."""

    receivable = "receivable"
    payable = "payable"
    bank = "bank"
    cash = "cash"
    current_asset = "current_asset"
    fixed_asset = "fixed_asset"
    current_liability = "current_liability"
    long_term_liability = "long_term_liability"
    tax_receivable = "tax_receivable"  # input VAT
    tax_payable = "tax_payable"  # output VAT
    equity = "equity"
    retained_earnings = "retained_earnings"
    income = "income"
    other_income = "other_income"
    cost_of_sales = "cost_of_sales"
    expense = "expense"
    depreciation = "depreciation"
    fx_gain_loss = "fx_gain_loss"
    rounding = "rounding"


K = AccountKind
T = AccountType

KIND_TYPE: dict[AccountKind, AccountType] = {
    K.receivable: T.asset,
    K.payable: T.liability,
    K.bank: T.asset,
    K.cash: T.asset,
    K.current_asset: T.asset,
    K.fixed_asset: T.asset,
    K.current_liability: T.liability,
    K.long_term_liability: T.liability,
    K.tax_receivable: T.asset,
    K.tax_payable: T.liability,
    K.equity: T.equity,
    K.retained_earnings: T.equity,
    K.income: T.income,
    K.other_income: T.income,
    K.cost_of_sales: T.expense,
    K.expense: T.expense,
    K.depreciation: T.expense,
    # exchange differences and rounding are booked both ways; they sit in the P&L as expense lines
    K.fx_gain_loss: T.expense,
    K.rounding: T.expense,
}

RECONCILE_KINDS = frozenset({K.receivable, K.payable, K.bank, K.cash})
"""Kinds whose lines are matched one by one against payments or statements."""

TAX_KINDS = frozenset({K.tax_receivable, K.tax_payable})
"""The only kinds that may carry a tax rate."""

REQUIRED_KINDS = frozenset(
    {
        K.receivable,
        K.payable,
        K.bank,
        K.tax_receivable,
        K.tax_payable,
        K.equity,
        K.retained_earnings,
        K.income,
        K.cost_of_sales,
        K.expense,
        K.fx_gain_loss,
        K.rounding,
    }
)
"""Every template has a postable account of each of these, so the ledger always finds its control accounts."""

CODE_MAX = 20
NAME_MAX = 200
_CODE_RE = re.compile(r"[A-Za-z0-9.\-]+")


@dataclass(frozen=True)
class ChartAccount:
    """One account of a chart; `parent` names a grouping header's code in the same chart."""

    code: str
    name: str
    kind: AccountKind
    parent: str | None = None
    reconcile: bool = False
    tax_rate: Decimal | None = None

    @property
    def type(self) -> AccountType:
        return KIND_TYPE[self.kind]

    def as_row(self) -> dict[str, str]:
        """The account as an upload row, so templates and uploads go through the same checks."""
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind.value,
            "parent": self.parent or "",
            "reconcile": "true" if self.reconcile else "false",
            "tax_rate": "" if self.tax_rate is None else str(self.tax_rate),
        }


@dataclass(frozen=True)
class ChartTemplate:
    """A ready-made chart a company can start from; `currency` is only a suggestion."""

    key: str
    name: str
    country: str | None
    currency: str
    accounts: tuple[ChartAccount, ...]

    @property
    def headers(self) -> frozenset[str]:
        """Codes used as a parent: grouping headers, not meant to be posted to."""
        return frozenset(a.parent for a in self.accounts if a.parent is not None)

    def by_kind(self, kind: AccountKind, *, include_headers: bool = False) -> list[ChartAccount]:
        """Accounts of a kind in chart order; headers left out unless asked, as nothing posts to them."""
        headers = self.headers
        return [a for a in self.accounts if a.kind == kind and (include_headers or a.code not in headers)]

    def get(self, code: str) -> ChartAccount | None:
        return next((a for a in self.accounts if a.code == code), None)

    def as_rows(self) -> list[dict[str, str]]:
        return [a.as_row() for a in self.accounts]


def _a(code: str, name: str, kind: AccountKind, parent: str | None = None, rate: str | None = None) -> ChartAccount:
    """Template shorthand: reconcile follows the kind, rates are written as strings to stay exact."""
    return ChartAccount(
        code=code,
        name=name,
        kind=kind,
        parent=parent,
        reconcile=kind in RECONCILE_KINDS,
        tax_rate=None if rate is None else Decimal(rate),
    )


_IFRS = ChartTemplate(
    key="ifrs",
    name="IFRS (generic)",
    country=None,
    currency="EUR",
    accounts=(
        _a("1000", "Non-current assets", K.fixed_asset),
        _a("1100", "Property, plant and equipment", K.fixed_asset, "1000"),
        _a("1110", "Accumulated depreciation – property, plant and equipment", K.fixed_asset, "1000"),
        _a("1200", "Intangible assets", K.fixed_asset, "1000"),
        _a("1210", "Accumulated amortisation – intangible assets", K.fixed_asset, "1000"),
        _a("1300", "Right-of-use assets", K.fixed_asset, "1000"),
        _a("1400", "Current assets", K.current_asset),
        _a("1410", "Inventories", K.current_asset, "1400"),
        _a("1420", "Trade receivables", K.receivable, "1400"),
        _a("1425", "Allowance for expected credit losses", K.current_asset, "1400"),
        _a("1430", "Other receivables", K.current_asset, "1400"),
        _a("1440", "Prepayments", K.current_asset, "1400"),
        _a("1450", "Input VAT recoverable", K.tax_receivable, "1400"),
        _a("1500", "Cash and cash equivalents", K.current_asset),
        _a("1510", "Bank – current account", K.bank, "1500"),
        _a("1520", "Bank – deposit account", K.bank, "1500"),
        _a("1530", "Petty cash", K.cash, "1500"),
        _a("2000", "Equity", K.equity),
        _a("2100", "Share capital", K.equity, "2000"),
        _a("2110", "Share premium", K.equity, "2000"),
        _a("2200", "Other reserves", K.equity, "2000"),
        _a("2300", "Retained earnings", K.retained_earnings, "2000"),
        _a("2400", "Profit or loss for the year", K.retained_earnings, "2000"),
        _a("3000", "Non-current liabilities", K.long_term_liability),
        _a("3100", "Borrowings – non-current", K.long_term_liability, "3000"),
        _a("3200", "Lease liabilities – non-current", K.long_term_liability, "3000"),
        _a("3300", "Deferred tax liabilities", K.long_term_liability, "3000"),
        _a("3400", "Provisions – non-current", K.long_term_liability, "3000"),
        _a("3500", "Current liabilities", K.current_liability),
        _a("3510", "Trade payables", K.payable, "3500"),
        _a("3520", "Accrued expenses", K.current_liability, "3500"),
        _a("3530", "Output VAT payable", K.tax_payable, "3500"),
        _a("3540", "Current income tax liabilities", K.current_liability, "3500"),
        _a("3550", "Payroll liabilities", K.current_liability, "3500"),
        _a("3560", "Borrowings – current", K.current_liability, "3500"),
        _a("3570", "Contract liabilities", K.current_liability, "3500"),
        _a("4000", "Revenue", K.income),
        _a("4100", "Revenue from the sale of goods", K.income, "4000"),
        _a("4200", "Revenue from services", K.income, "4000"),
        _a("4300", "Other operating income", K.other_income, "4000"),
        _a("4400", "Finance income", K.other_income, "4000"),
        _a("5000", "Cost of sales", K.cost_of_sales),
        _a("5100", "Cost of goods sold", K.cost_of_sales, "5000"),
        _a("5200", "Direct labour", K.cost_of_sales, "5000"),
        _a("5300", "Freight inwards", K.cost_of_sales, "5000"),
        _a("6000", "Operating expenses", K.expense),
        _a("6100", "Salaries and wages", K.expense, "6000"),
        _a("6110", "Social security contributions", K.expense, "6000"),
        _a("6200", "Short-term lease expense", K.expense, "6000"),
        _a("6300", "Utilities", K.expense, "6000"),
        _a("6400", "Office supplies", K.expense, "6000"),
        _a("6500", "Professional fees", K.expense, "6000"),
        _a("6600", "Marketing and advertising", K.expense, "6000"),
        _a("6700", "Travel", K.expense, "6000"),
        _a("6800", "Insurance", K.expense, "6000"),
        _a("6900", "Bank charges", K.expense, "6000"),
        _a("7000", "Depreciation of property, plant and equipment", K.depreciation, "6000"),
        _a("7010", "Amortisation of intangible assets", K.depreciation, "6000"),
        _a("7020", "Depreciation of right-of-use assets", K.depreciation, "6000"),
        _a("7100", "Finance costs", K.expense),
        _a("7200", "Foreign exchange gains and losses", K.fx_gain_loss),
        _a("7300", "Rounding differences", K.rounding),
        _a("7400", "Income tax expense", K.expense),
    ),
)

_US_GAAP_SMALL = ChartTemplate(
    key="us_gaap_small",
    name="US GAAP – small business",
    country="US",
    currency="USD",
    accounts=(
        _a("1000", "Current Assets", K.current_asset),
        _a("1010", "Checking Account", K.bank, "1000"),
        _a("1020", "Savings Account", K.bank, "1000"),
        _a("1030", "Petty Cash", K.cash, "1000"),
        _a("1100", "Accounts Receivable", K.receivable, "1000"),
        _a("1150", "Allowance for Doubtful Accounts", K.current_asset, "1000"),
        _a("1200", "Inventory", K.current_asset, "1000"),
        _a("1300", "Prepaid Expenses", K.current_asset, "1000"),
        _a("1350", "Sales Tax Receivable", K.tax_receivable, "1000"),
        _a("1500", "Fixed Assets", K.fixed_asset),
        _a("1510", "Furniture and Fixtures", K.fixed_asset, "1500"),
        _a("1520", "Equipment", K.fixed_asset, "1500"),
        _a("1530", "Vehicles", K.fixed_asset, "1500"),
        _a("1540", "Leasehold Improvements", K.fixed_asset, "1500"),
        _a("1590", "Accumulated Depreciation", K.fixed_asset, "1500"),
        _a("2000", "Current Liabilities", K.current_liability),
        _a("2010", "Accounts Payable", K.payable, "2000"),
        _a("2100", "Credit Card Payable", K.current_liability, "2000"),
        _a("2200", "Sales Tax Payable", K.tax_payable, "2000"),
        _a("2300", "Accrued Liabilities", K.current_liability, "2000"),
        _a("2310", "Payroll Liabilities", K.current_liability, "2000"),
        _a("2320", "Payroll Taxes Payable", K.current_liability, "2000"),
        _a("2400", "Unearned Revenue", K.current_liability, "2000"),
        _a("2700", "Long-Term Liabilities", K.long_term_liability),
        _a("2710", "Notes Payable – Long-Term", K.long_term_liability, "2700"),
        _a("2720", "Loans from Shareholders", K.long_term_liability, "2700"),
        _a("3000", "Equity", K.equity),
        _a("3100", "Common Stock", K.equity, "3000"),
        _a("3200", "Additional Paid-In Capital", K.equity, "3000"),
        _a("3300", "Owner's Distributions", K.equity, "3000"),
        _a("3900", "Retained Earnings", K.retained_earnings, "3000"),
        _a("4000", "Revenue", K.income),
        _a("4010", "Sales", K.income, "4000"),
        _a("4020", "Service Revenue", K.income, "4000"),
        _a("4090", "Sales Returns and Allowances", K.income, "4000"),
        _a("4900", "Interest Income", K.other_income, "4000"),
        _a("4950", "Other Income", K.other_income, "4000"),
        _a("5000", "Cost of Goods Sold", K.cost_of_sales),
        _a("5010", "Purchases", K.cost_of_sales, "5000"),
        _a("5020", "Freight-In", K.cost_of_sales, "5000"),
        _a("5030", "Direct Labor", K.cost_of_sales, "5000"),
        _a("5040", "Subcontractors", K.cost_of_sales, "5000"),
        _a("6000", "Operating Expenses", K.expense),
        _a("6010", "Advertising and Marketing", K.expense, "6000"),
        _a("6020", "Bank Service Charges", K.expense, "6000"),
        _a("6030", "Dues and Subscriptions", K.expense, "6000"),
        _a("6040", "Insurance", K.expense, "6000"),
        _a("6050", "Legal and Professional Fees", K.expense, "6000"),
        _a("6060", "Office Supplies", K.expense, "6000"),
        _a("6070", "Rent Expense", K.expense, "6000"),
        _a("6080", "Repairs and Maintenance", K.expense, "6000"),
        _a("6090", "Salaries and Wages", K.expense, "6000"),
        _a("6100", "Payroll Tax Expense", K.expense, "6000"),
        _a("6110", "Telephone and Internet", K.expense, "6000"),
        _a("6120", "Travel", K.expense, "6000"),
        _a("6130", "Meals", K.expense, "6000"),
        _a("6140", "Utilities", K.expense, "6000"),
        _a("6150", "Depreciation Expense", K.depreciation, "6000"),
        _a("6160", "Taxes and Licenses", K.expense, "6000"),
        _a("7000", "Other Expenses", K.expense),
        _a("7010", "Interest Expense", K.expense, "7000"),
        _a("7100", "Foreign Exchange Gain/Loss", K.fx_gain_loss, "7000"),
        _a("7200", "Rounding Differences", K.rounding, "7000"),
        _a("9000", "Income Tax Expense", K.expense),
    ),
)

_UK = ChartTemplate(
    key="uk",
    name="UK small company",
    country="GB",
    currency="GBP",
    accounts=(
        _a("0010", "Freehold property", K.fixed_asset),
        _a("0020", "Plant and machinery", K.fixed_asset),
        _a("0021", "Plant and machinery depreciation", K.fixed_asset),
        _a("0030", "Office equipment", K.fixed_asset),
        _a("0031", "Office equipment depreciation", K.fixed_asset),
        _a("0050", "Motor vehicles", K.fixed_asset),
        _a("0051", "Motor vehicles depreciation", K.fixed_asset),
        _a("1001", "Stock", K.current_asset),
        _a("1100", "Debtors control account", K.receivable),
        _a("1103", "Prepayments", K.current_asset),
        _a("1104", "Accrued income", K.current_asset),
        _a("1200", "Bank current account", K.bank),
        _a("1210", "Bank deposit account", K.bank),
        _a("1230", "Petty cash", K.cash),
        _a("2100", "Creditors control account", K.payable),
        _a("2109", "Accruals", K.current_liability),
        _a("2200", "Sales tax control account (output VAT 20%)", K.tax_payable, rate="0.20"),
        _a("2201", "Purchase tax control account (input VAT 20%)", K.tax_receivable, rate="0.20"),
        _a("2202", "VAT liability", K.current_liability),
        _a("2210", "PAYE", K.current_liability),
        _a("2211", "National Insurance", K.current_liability),
        _a("2220", "Net wages", K.current_liability),
        _a("2230", "Pension fund", K.current_liability),
        _a("2300", "Bank loans", K.long_term_liability),
        _a("2310", "Hire purchase", K.long_term_liability),
        _a("2320", "Corporation tax", K.current_liability),
        _a("3000", "Ordinary shares", K.equity),
        _a("3100", "Reserves", K.equity),
        _a("3200", "Profit and loss account", K.retained_earnings),
        _a("3260", "Dividends", K.equity),
        _a("4000", "Sales – products", K.income),
        _a("4010", "Sales – services", K.income),
        _a("4009", "Discounts allowed", K.income),
        _a("4900", "Miscellaneous income", K.other_income),
        _a("4906", "Bank interest received", K.other_income),
        _a("5000", "Materials purchased", K.cost_of_sales),
        _a("5001", "Goods purchased for resale", K.cost_of_sales),
        _a("5100", "Carriage", K.cost_of_sales),
        _a("6000", "Productive labour", K.cost_of_sales),
        _a("7000", "Gross wages", K.expense),
        _a("7006", "Employer's National Insurance", K.expense),
        _a("7007", "Employer's pensions", K.expense),
        _a("7100", "Rent", K.expense),
        _a("7103", "Business rates", K.expense),
        _a("7200", "Electricity", K.expense),
        _a("7201", "Gas", K.expense),
        _a("7400", "Travelling", K.expense),
        _a("7502", "Telephone and internet", K.expense),
        _a("7504", "Office stationery", K.expense),
        _a("7600", "Legal fees", K.expense),
        _a("7601", "Audit and accountancy fees", K.expense),
        _a("7900", "Bank charges and interest", K.expense),
        _a("7906", "Exchange rate variance", K.fx_gain_loss),
        _a("8000", "Depreciation", K.depreciation),
        _a("8100", "Bad debt write off", K.expense),
        _a("8204", "Insurance", K.expense),
        _a("8205", "Refreshments", K.expense),
        _a("9990", "Rounding differences", K.rounding),
    ),
)

_DE_SKR03 = ChartTemplate(
    key="de_skr03",
    name="SKR03 (Deutschland)",
    country="DE",
    currency="EUR",
    accounts=(
        _a("0027", "EDV-Software", K.fixed_asset),
        _a("0200", "Technische Anlagen und Maschinen", K.fixed_asset),
        _a("0320", "Pkw", K.fixed_asset),
        _a("0410", "Geschäftsausstattung", K.fixed_asset),
        _a("0420", "Büroeinrichtung", K.fixed_asset),
        _a("0480", "Geringwertige Wirtschaftsgüter", K.fixed_asset),
        _a("0640", "Verbindlichkeiten gegenüber Kreditinstituten – Restlaufzeit 1 bis 5 Jahre", K.long_term_liability),
        _a("0650", "Verbindlichkeiten gegenüber Kreditinstituten – Restlaufzeit größer 5 Jahre", K.long_term_liability),
        _a("0800", "Gezeichnetes Kapital", K.equity),
        _a("0840", "Kapitalrücklage", K.equity),
        _a("0860", "Gewinnvortrag vor Verwendung", K.retained_earnings),
        _a("0868", "Verlustvortrag vor Verwendung", K.retained_earnings),
        _a("0970", "Sonstige Rückstellungen", K.current_liability),
        _a("0977", "Rückstellungen für Abschluss- und Prüfungskosten", K.current_liability),
        _a("0980", "Aktive Rechnungsabgrenzung", K.current_asset),
        _a("0990", "Passive Rechnungsabgrenzung", K.current_liability),
        _a("1000", "Kasse", K.cash),
        _a("1200", "Bank", K.bank),
        _a("1210", "Bank 2", K.bank),
        _a("1360", "Geldtransit", K.current_asset),
        _a("1400", "Forderungen aus Lieferungen und Leistungen", K.receivable),
        _a("1500", "Sonstige Vermögensgegenstände", K.current_asset),
        _a("1570", "Abziehbare Vorsteuer", K.tax_receivable),
        _a("1571", "Abziehbare Vorsteuer 7 %", K.tax_receivable, rate="0.07"),
        _a("1576", "Abziehbare Vorsteuer 19 %", K.tax_receivable, rate="0.19"),
        _a("1588", "Bezahlte Einfuhrumsatzsteuer", K.tax_receivable),
        _a("1590", "Durchlaufende Posten", K.current_asset),
        _a("1600", "Verbindlichkeiten aus Lieferungen und Leistungen", K.payable),
        _a("1700", "Sonstige Verbindlichkeiten", K.current_liability),
        _a("1740", "Verbindlichkeiten aus Lohn und Gehalt", K.current_liability),
        _a("1741", "Verbindlichkeiten aus Lohn- und Kirchensteuer", K.current_liability),
        _a("1742", "Verbindlichkeiten im Rahmen der sozialen Sicherheit", K.current_liability),
        _a("1770", "Umsatzsteuer", K.tax_payable),
        _a("1771", "Umsatzsteuer 7 %", K.tax_payable, rate="0.07"),
        _a("1776", "Umsatzsteuer 19 %", K.tax_payable, rate="0.19"),
        _a("1780", "Umsatzsteuer-Vorauszahlungen", K.current_liability),
        _a("2100", "Zinsen und ähnliche Aufwendungen", K.expense),
        _a("2150", "Aufwendungen aus Kursdifferenzen", K.fx_gain_loss),
        _a("2400", "Forderungsverluste (übliche Höhe)", K.expense),
        _a("2650", "Sonstige Zinsen und ähnliche Erträge", K.other_income),
        _a("2660", "Erträge aus Kursdifferenzen", K.fx_gain_loss),
        _a("2700", "Sonstige Erträge", K.other_income),
        _a("3200", "Wareneingang", K.cost_of_sales),
        _a("3300", "Wareneingang 7 % Vorsteuer", K.cost_of_sales),
        _a("3400", "Wareneingang 19 % Vorsteuer", K.cost_of_sales),
        _a("3800", "Bezugsnebenkosten", K.cost_of_sales),
        _a("3980", "Bestand Waren", K.current_asset),
        _a("4110", "Löhne", K.expense),
        _a("4120", "Gehälter", K.expense),
        _a("4130", "Gesetzliche soziale Aufwendungen", K.expense),
        _a("4210", "Miete (unbewegliche Wirtschaftsgüter)", K.expense),
        _a("4240", "Gas, Strom, Wasser", K.expense),
        _a("4360", "Versicherungen", K.expense),
        _a("4500", "Fahrzeugkosten", K.expense),
        _a("4600", "Werbekosten", K.expense),
        _a("4650", "Bewirtungskosten", K.expense),
        _a("4660", "Reisekosten Arbeitnehmer", K.expense),
        _a("4830", "Abschreibungen auf Sachanlagen", K.depreciation),
        _a("4855", "Sofortabschreibung geringwertiger Wirtschaftsgüter", K.depreciation),
        _a("4900", "Sonstige betriebliche Aufwendungen", K.expense),
        _a("4910", "Porto", K.expense),
        _a("4920", "Telefon", K.expense),
        _a("4930", "Bürobedarf", K.expense),
        _a("4950", "Rechts- und Beratungskosten", K.expense),
        _a("4955", "Buchführungskosten", K.expense),
        _a("4970", "Nebenkosten des Geldverkehrs", K.expense),
        _a("4999", "Rundungsdifferenzen", K.rounding),
        _a("8125", "Steuerfreie innergemeinschaftliche Lieferungen § 4 Nr. 1b UStG", K.income),
        _a("8300", "Erlöse 7 % USt", K.income),
        _a("8400", "Erlöse 19 % USt", K.income),
    ),
)

_FR_PCG = ChartTemplate(
    key="fr_pcg",
    name="Plan comptable général (France)",
    country="FR",
    currency="EUR",
    accounts=(
        _a("10", "Capital et réserves", K.equity),
        _a("101", "Capital", K.equity, "10"),
        _a("106", "Réserves", K.equity, "10"),
        _a("1061", "Réserve légale", K.equity, "106"),
        _a("1068", "Autres réserves", K.equity, "106"),
        _a("110", "Report à nouveau (solde créditeur)", K.retained_earnings),
        _a("119", "Report à nouveau (solde débiteur)", K.retained_earnings),
        _a("120", "Résultat de l'exercice (bénéfice)", K.retained_earnings),
        _a("129", "Résultat de l'exercice (perte)", K.retained_earnings),
        _a("164", "Emprunts auprès des établissements de crédit", K.long_term_liability),
        _a("20", "Immobilisations incorporelles", K.fixed_asset),
        _a("205", "Concessions et droits similaires, brevets, licences, logiciels", K.fixed_asset, "20"),
        _a("21", "Immobilisations corporelles", K.fixed_asset),
        _a("2182", "Matériel de transport", K.fixed_asset, "21"),
        _a("2183", "Matériel de bureau et matériel informatique", K.fixed_asset, "21"),
        _a("2184", "Mobilier", K.fixed_asset, "21"),
        _a("28", "Amortissements des immobilisations", K.fixed_asset),
        _a("2805", "Amortissements des concessions, brevets, licences, logiciels", K.fixed_asset, "28"),
        _a("2818", "Amortissements des autres immobilisations corporelles", K.fixed_asset, "28"),
        _a("37", "Stocks de marchandises", K.current_asset),
        _a("40", "Fournisseurs et comptes rattachés", K.current_liability),
        _a("401", "Fournisseurs", K.payable, "40"),
        _a("404", "Fournisseurs d'immobilisations", K.payable, "40"),
        _a("408", "Fournisseurs – factures non parvenues", K.current_liability, "40"),
        _a("41", "Clients et comptes rattachés", K.current_asset),
        _a("411", "Clients", K.receivable, "41"),
        _a("416", "Clients douteux ou litigieux", K.receivable, "41"),
        _a("418", "Clients – produits non encore facturés", K.current_asset, "41"),
        _a("421", "Personnel – rémunérations dues", K.current_liability),
        _a("431", "Sécurité sociale", K.current_liability),
        _a("44", "État et autres collectivités publiques", K.current_liability),
        _a("444", "État – impôts sur les bénéfices", K.current_liability, "44"),
        _a("445", "État – taxes sur le chiffre d'affaires", K.current_liability, "44"),
        _a("44551", "TVA à décaisser", K.current_liability, "445"),
        _a("44562", "TVA déductible sur immobilisations", K.tax_receivable, "445", "0.20"),
        _a("44566", "TVA déductible sur autres biens et services", K.tax_receivable, "445", "0.20"),
        _a("44567", "Crédit de TVA à reporter", K.current_asset, "445"),
        _a("44571", "TVA collectée", K.tax_payable, "445", "0.20"),
        _a("455", "Associés – comptes courants", K.current_liability),
        _a("486", "Charges constatées d'avance", K.current_asset),
        _a("487", "Produits constatés d'avance", K.current_liability),
        _a("512", "Banque", K.bank),
        _a("530", "Caisse", K.cash),
        _a("60", "Achats", K.cost_of_sales),
        _a("601", "Achats stockés – matières premières", K.cost_of_sales, "60"),
        _a("6037", "Variation des stocks de marchandises", K.cost_of_sales, "60"),
        _a("606", "Achats non stockés de matières et fournitures", K.expense, "60"),
        _a("607", "Achats de marchandises", K.cost_of_sales, "60"),
        _a("613", "Locations", K.expense),
        _a("615", "Entretien et réparations", K.expense),
        _a("616", "Primes d'assurances", K.expense),
        _a("622", "Rémunérations d'intermédiaires et honoraires", K.expense),
        _a("623", "Publicité, publications, relations publiques", K.expense),
        _a("625", "Déplacements, missions et réceptions", K.expense),
        _a("626", "Frais postaux et de télécommunications", K.expense),
        _a("627", "Services bancaires et assimilés", K.expense),
        _a("641", "Rémunérations du personnel", K.expense),
        _a("645", "Charges de sécurité sociale et de prévoyance", K.expense),
        _a("658", "Charges diverses de gestion courante – écarts d'arrondi", K.rounding),
        _a("661", "Charges d'intérêts", K.expense),
        _a("666", "Pertes de change", K.fx_gain_loss),
        _a("6811", "Dotations aux amortissements sur immobilisations incorporelles et corporelles", K.depreciation),
        _a("695", "Impôts sur les bénéfices", K.expense),
        _a("70", "Ventes de produits fabriqués, prestations de services, marchandises", K.income),
        _a("701", "Ventes de produits finis", K.income, "70"),
        _a("706", "Prestations de services", K.income, "70"),
        _a("707", "Ventes de marchandises", K.income, "70"),
        _a("758", "Produits divers de gestion courante", K.other_income),
        _a("766", "Gains de change", K.fx_gain_loss),
    ),
)

TEMPLATES: dict[str, ChartTemplate] = {t.key: t for t in (_IFRS, _US_GAAP_SMALL, _UK, _DE_SKR03, _FR_PCG)}


def template(key: str) -> ChartTemplate:
    """The template for a key; a KeyError names the keys there are, so a typo is easy to fix."""
    try:
        return TEMPLATES[key]
    except KeyError:
        raise KeyError(f"no chart template {key!r}; choose one of {', '.join(sorted(TEMPLATES))}") from None


# --- validation of uploaded charts --------------------------------------------------------------


@dataclass
class RowError:
    """One problem in an uploaded chart: 1-based row, the column, and what to fix."""

    row: int
    field: str
    message: str


_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_VALID_KINDS = ", ".join(k.value for k in AccountKind)


def _cell(row: Mapping[str, str], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _tax_rate(raw: str) -> Decimal | None:
    """'0.19' or '19%' (a decimal comma too) as a fraction; None when it is no rate in range."""
    text = raw.replace(",", ".")
    percent = text.endswith("%")
    if percent:
        text = text[:-1].strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if percent:
        return value / 100 if 0 <= value <= 100 else None
    return value if 0 <= value <= 1 else None


def _code_problem(code: str) -> str | None:
    if not code:
        return "code is required"
    if len(code) > CODE_MAX:
        return f"code is longer than {CODE_MAX} characters"
    if not _CODE_RE.fullmatch(code):
        return "code may contain only letters, digits, '.' and '-'"
    return None


def _cycles(parents: Mapping[str, str]) -> list[list[str]]:
    """Each parent cycle once, as its codes in parent order starting from the first one met."""
    done: set[str] = set()
    found: list[list[str]] = []
    for start in parents:
        path: list[str] = []
        on_path: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in done and node not in on_path:
            on_path[node] = len(path)
            path.append(node)
            node = parents.get(node)
        if node is not None and node in on_path:
            found.append(path[on_path[node] :])
        done.update(path)
    return found


@dataclass
class _Parsed:
    row: int
    code: str
    name: str
    kind: AccountKind | None
    parent: str | None
    reconcile: bool | None
    tax_rate: Decimal | None


def validate(
    rows: Sequence[Mapping[str, str]], numbers: Sequence[int] | None = None
) -> tuple[list[ChartAccount], list[RowError]]:
    """Check an uploaded chart (rows with code, name, kind and optional parent, reconcile, tax_rate).

    Every bad row is reported, not just the first, so a spreadsheet is fixed in one round trip; the
    accounts come back only when there is nothing to fix, so a half-right chart is never loaded.
    Rows count from 1 unless `numbers` gives each row's number as the user sees it (an upload's
    spreadsheet rows, where the header is row 1 and empty rows were skipped).
    """
    if numbers is not None and len(numbers) != len(rows):
        raise ValueError(f"{len(numbers)} row numbers for {len(rows)} rows")
    errors: list[RowError] = []
    parsed: list[_Parsed] = []
    first_row: dict[str, int] = {}

    for number, row in zip(range(1, len(rows) + 1) if numbers is None else numbers, rows, strict=True):
        code = _cell(row, "code")
        problem = _code_problem(code)
        if problem:
            errors.append(RowError(number, "code", problem))
        elif code in first_row:
            errors.append(RowError(number, "code", f"code {code} is already used in row {first_row[code]}"))
        else:
            first_row[code] = number

        name = _cell(row, "name")
        if not name:
            errors.append(RowError(number, "name", "name is required"))
        elif len(name) > NAME_MAX:
            errors.append(RowError(number, "name", f"name is longer than {NAME_MAX} characters"))

        raw_kind = _cell(row, "kind").lower()
        kind: AccountKind | None = None
        if not raw_kind:
            errors.append(RowError(number, "kind", f"kind is required; valid kinds: {_VALID_KINDS}"))
        else:
            try:
                kind = AccountKind(raw_kind)
            except ValueError:
                errors.append(RowError(number, "kind", f"unknown kind {raw_kind!r}; valid kinds: {_VALID_KINDS}"))

        raw_reconcile = _cell(row, "reconcile").lower()
        reconcile: bool | None = None
        if raw_reconcile in _TRUE:
            reconcile = True
        elif raw_reconcile in _FALSE:
            reconcile = False
        elif raw_reconcile:
            errors.append(RowError(number, "reconcile", f"reconcile must be true or false, not {raw_reconcile!r}"))

        raw_rate = _cell(row, "tax_rate")
        rate: Decimal | None = None
        if raw_rate:
            rate = _tax_rate(raw_rate)
            if rate is None:
                errors.append(
                    RowError(
                        number,
                        "tax_rate",
                        f"tax_rate {raw_rate!r} is not a decimal between 0 and 1 or a percentage between 0 and 100",
                    )
                )
            elif kind is not None and kind not in TAX_KINDS:
                errors.append(
                    RowError(number, "tax_rate", f"only tax accounts carry a tax rate, not a {kind.value} account")
                )

        parsed.append(_Parsed(number, code, name, kind, _cell(row, "parent") or None, reconcile, rate))

    parents: dict[str, str] = {}
    for p in parsed:
        if p.parent is None:
            continue
        if p.parent not in first_row:
            errors.append(RowError(p.row, "parent", f"parent {p.parent} is not an account in this chart"))
        elif first_row.get(p.code) == p.row:
            parents[p.code] = p.parent

    for cycle in _cycles(parents):
        for i, code in enumerate(cycle):
            loop = [*cycle[i:], *cycle[:i], code]
            errors.append(RowError(first_row[code], "parent", f"parents form a cycle: {' → '.join(loop)}"))

    if errors:
        errors.sort(key=lambda e: e.row)  # stable: within a row, fields keep the order they were checked in
        return [], errors
    return [
        ChartAccount(
            code=p.code,
            name=p.name,
            kind=p.kind,
            parent=p.parent,
            reconcile=p.kind in RECONCILE_KINDS if p.reconcile is None else p.reconcile,
            tax_rate=p.tax_rate,
        )
        for p in parsed
        if p.kind is not None
    ], []
